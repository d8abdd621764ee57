"""Visible checks for Q3: the Keras model's architecture and settings, and its test accuracy after training."""

import numpy as np
import pytest

from grader.checking.checklib import linear_credit, permuted
from grader.running.runner import Call, Scaled
from questions.q3_fashion_mnist.common import PARAMS, check_architecture, numpy_forward

# Full credit at 88% test accuracy, none at 85%. The reference recipe reaches 88.91-89.09% over seeds 0-4
# (README, "Measured figures"), so the bar sits well below the noise of a correct solution.
FULL_AT, ZERO_AT = 0.88, 0.85


def _training_args():
    from nnkit.data import load_fashion_mnist

    (x_train, y_train), _ = load_fashion_mnist()
    return [Scaled(permuted(x_train), 255.0, "float32"), y_train.astype(np.int64)]


CALLS = [
    Call("build", "build_model", task="keras_build"),
    # The training data is loaded only if the training worker runs (args given as a function).
    Call("train", "build_model", task="keras_train", group="train", args=_training_args,
         extra={"train_function": "train_model", "seed": 0}),
]


@pytest.mark.check(points=2)
def test_model_architecture(student):
    """build_model has the specified layers (Flatten, Dense 256/128/64 relu with Dropout 0.2, Dense 10 softmax)"""
    check_architecture(student.value("build"))


@pytest.mark.check(points=1)
def test_model_parameter_count(student):
    """the model has 242,762 trainable parameters"""
    spec = student.value("build")
    assert spec.get("params") == PARAMS, (
        f"your model has {spec.get('params'):,} parameters, expected {PARAMS:,}.\nHint: the input is 28x28 = 784 "
        f"pixels flattened; every Dense layer has a bias.")


@pytest.mark.check(points=1)
def test_model_compile_settings(student):
    """the model is compiled with Adam (learning rate 1e-3) and a cross-entropy loss"""
    spec = student.value("build")
    assert spec.get("optimizer") == "Adam", f"expected the Adam optimizer, your model uses {spec.get('optimizer')}"
    lr = spec.get("learning_rate")
    assert lr is not None and abs(lr - 1e-3) <= 1e-9, f"expected learning rate 0.001, got {lr}"
    loss = str(spec.get("loss"))
    assert "crossentropy" in loss.replace("_", "").lower(), (
        f"expected a cross-entropy loss (sparse_categorical_crossentropy for integer labels), got {loss!r}")


@pytest.mark.check(points=6, training=True)
def test_trained_model_test_accuracy(student, credit, note, artifacts):
    """after train_model, the network reaches 88% test accuracy (graded on data your code never sees)"""
    from nnkit.data import load_fashion_mnist

    result = student.value("train")
    (_, _), (x_test, y_test) = load_fashion_mnist()
    probs = numpy_forward(result["spec"], permuted(x_test))
    accuracy = float(np.mean(np.argmax(probs, axis=1) == y_test))
    left_out = ""
    if artifacts is not None:
        from questions.q3_fashion_mnist import plots
        left_out = plots.q3_training(artifacts / "q3.png", result.get("history", {}), x_test, y_test, probs, accuracy)
    credit(linear_credit(accuracy, ZERO_AT, FULL_AT))
    note(f"test accuracy: {accuracy:.2%}" + (f"; {left_out}" if left_out else ""))
    assert accuracy >= FULL_AT, (
        f"test accuracy {accuracy:.2%}; full credit from {FULL_AT:.0%} (partial credit from {ZERO_AT:.0%}).\n"
        f"Hint: train for more epochs or with a larger batch; check that the labels are integers matching "
        f"sparse_categorical_crossentropy and that you did not scale the images a second time.")
