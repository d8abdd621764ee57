"""Visible checks for Q4: initialisation, forward pass, backpropagation, one SGD step, evaluation, training."""

import numpy as np
import pytest

from grader.checking.checklib import (
    Expected,
    as_float64,
    assert_close,
    linear_credit,
    loss_and_accuracy,
    mixed,
)
from grader.running.runner import Call, Rng
from nnkit.gradcheck import compare
from questions.q4_numpy_backprop.common import (
    NAMES,
    SIZES,
    STEM,
    check_backward_cost,
    gradient_hint,
    probabilities,
    random_image,
    random_params,
    read_params,
)

W, Bs = random_params(4)
X = random_image(4)
Y = 7
XB = np.stack([random_image(s) for s in range(40, 72)])
YB = np.arange(32) % 10
LR = 0.003
# Full credit at 70% after 3 epochs, none at 60%. The reference reaches 92.77% on pixels / 255, and 92.43 / 92.28 /
# 92.63 % on the same rows under the mixings of seeds 1, 2, 3 (the grader's transform, checklib.mixed).
FULL_AT, ZERO_AT = 0.70, 0.60


def _training_args():
    """MNIST's training rows, pixels / 255, times the run's secret orthogonal mixing (checklib.mixed)."""
    from nnkit.data import load_mnist

    (x_train, y_train), _ = load_mnist()
    return [mixed(x_train), y_train.astype(np.int64)]


CALLS = [
    Call("init", "init_params", [Rng(80085)]),
    Call("forward", "forward", [W, Bs, XB]),
    Call("backward", "backward", [W, Bs, X, Y]),
    Call("backward_cost", "backward", [[W, Bs, X, Y], [W, Bs, X[None, :]]], task="cost_ratio",
         extra={"baseline": "forward"}),
    Call("step", "train_one_sample", [W, Bs, X, Y, LR], return_args=[0, 1]),
    Call("evaluate", "evaluate", [W, Bs, XB, YB]),
    Call("train", "train", _training_args, kwargs={"epochs": 3, "learning_rate": LR, "rng": Rng(80085)},
         task="train_epochs", group="train"),
]

EXPECTED = Expected(STEM, {
    "forward": lambda ref: ref.forward(W, Bs, XB),
    "evaluate": lambda ref: ref.evaluate(W, Bs, XB, YB),
    "loss": lambda ref: ref.sample_loss(W, Bs, X, Y),
    **{f"central_gradient_{name}": lambda ref, name=name: ref.central_gradient(name, W, Bs, X, Y) for name in NAMES},
    **{f"gradient_{name}": lambda ref, name=name: ref.gradient(name, W, Bs, X, Y) for name in NAMES},
    **{f"gradient_without_sigmoid_derivative_{name}":
       lambda ref, name=name: ref.gradient(name, W, Bs, X, Y, sigmoid_derivative=False) for name in NAMES},
})


def performance(weights, biases, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """(average loss, correct guesses) of returned parameters on input rows ``x`` (n, 784), by the grader's
    evaluator."""
    return loss_and_accuracy(probabilities(weights, biases, x), y)


@pytest.mark.check(points=1)
def test_init_shapes(student):
    """init_params returns weights of shapes (784, 32), (32, 32), (32, 10) and zero biases"""
    w, b = read_params(student.value("init"), student.describe("init"))
    for i in range(3):
        assert np.all(b[i] == 0), f"b{i + 1} should start at zero; it has {int(np.sum(b[i] != 0))} non-zero entries"


@pytest.mark.check(points=1)
def test_init_statistics(student):
    """initial weights have mean 0 and variance 1/max(n_in, n_out)"""
    w, _ = read_params(student.value("init"), student.describe("init"))
    for i in range(3):
        n = w[i].size
        target = 1.0 / max(SIZES[i], SIZES[i + 1])
        # mean and variance of n normal draws: standard errors sqrt(v/n) and v*sqrt(2/n); allow 5 of each.
        mean, var = float(w[i].mean()), float(w[i].var())
        assert abs(mean) <= 5 * np.sqrt(target / n), (
            f"W{i + 1} has mean {mean:.4g}; expected about 0 (within {5 * np.sqrt(target / n):.2g})")
        assert abs(var - target) <= 5 * target * np.sqrt(2 / n), (
            f"W{i + 1} has variance {var:.4g}; expected 1/max({SIZES[i]}, {SIZES[i + 1]}) = {target:.4g}.\n"
            f"Hint: rng.normal takes the standard deviation, i.e. sqrt of the variance.")


@pytest.mark.check(points=1)
def test_forward_matches_reference(student):
    """forward gives the right class probabilities for a batch"""
    what = student.describe("forward")
    p = as_float64(student.value("forward"), what, shape=(len(XB), 10))
    assert_close(p, EXPECTED["forward"], what, rtol=1e-9, atol=1e-12,
                 hint="sigmoid on both hidden layers, softmax over each row of the output")


@pytest.mark.check(points=3)
@pytest.mark.parametrize("name", NAMES)
def test_backward_gradient(student, name):
    """backward's gradient agrees with central differences of the loss"""
    value = student.value("backward")
    assert isinstance(value, (list, tuple)) and len(value) == 3, (
        f"{student.describe('backward')} should return (loss, weight_grads, bias_grads)")
    loss, gw, gb = value
    idx = NAMES.index(name)
    check_backward_cost(student.value("backward_cost")["ratio"])
    grads = (list(gw) if isinstance(gw, (list, tuple)) else []) + (list(gb) if isinstance(gb, (list, tuple)) else [])
    assert len(grads) == 6, "weight_grads and bias_grads should each be a list of three arrays"
    got = as_float64(grads[idx], f"gradient of {name}", shape=(W + Bs)[idx].shape)
    numeric = EXPECTED[f"central_gradient_{name}"]  # central differences of the loss (W1: rows of non-zero pixels)
    result = compare(got, numeric, floor=1e-6 * max(float(np.max(np.abs(numeric))), 1e-12))
    hint = gradient_hint(name, got, EXPECTED[f"gradient_{name}"],
                         EXPECTED[f"gradient_without_sigmoid_derivative_{name}"])
    assert result.max_rel_error <= 1e-5, f"{result.describe('gradient of ' + name)}.\nHint: {hint}"


@pytest.mark.check(points=1)
def test_sgd_step(student):
    """train_one_sample moves every parameter by -learning_rate * gradient, in place"""
    w_after, b_after = read_params(student.args_after("step"), "parameters after train_one_sample")
    for i in range(3):
        gw, gb = EXPECTED[f"gradient_W{i + 1}"], EXPECTED[f"gradient_b{i + 1}"]
        assert_close(w_after[i], W[i] - LR * gw, f"W{i + 1} after one step", rtol=1e-9, atol=1e-13,
                     hint="update the arrays in place (W -= lr * grad) so the caller's lists change")
        assert_close(b_after[i], Bs[i] - LR * gb, f"b{i + 1} after one step", rtol=1e-9, atol=1e-13)
    loss = as_float64(student.value("step"), "the loss train_one_sample returned").ravel()
    want = float(EXPECTED["loss"])
    assert loss.size == 1 and abs(loss[0] - want) <= 1e-9, (
        f"train_one_sample should return the loss before the step, {want:.8g}; got {loss}")


@pytest.mark.check(points=1)
def test_evaluate(student):
    """evaluate returns the average cross-entropy loss and the number of correct guesses"""
    value = student.value("evaluate")
    assert isinstance(value, (list, tuple)) and len(value) == 2, "evaluate should return (average_loss, n_correct)"
    parts = [as_float64(v, "evaluate output").ravel() for v in value]
    assert all(p.size == 1 for p in parts), "evaluate should return two numbers: (average_loss, n_correct)"
    avg, correct = (float(p[0]) for p in parts)
    want_avg, want_correct = float(EXPECTED["evaluate"][0]), int(EXPECTED["evaluate"][1])
    assert abs(avg - want_avg) <= 1e-9 * max(1, want_avg), f"average loss: expected {want_avg:.8g}, got {avg:.8g}"
    assert correct == want_correct, f"correct guesses: expected {want_correct}, got {correct:g}"


@pytest.mark.check(points=2, training=True)
def test_training_reaches_70_percent(student, credit, note, artifacts):
    """train for 3 epochs; the returned weights reach 70% test accuracy (graded on data your code never sees)"""
    from nnkit.data import load_mnist

    result = student.value("train")
    (_, _), (x_test, y_test) = load_mnist()
    x = mixed(x_test)
    weights, biases = read_params(result["result"], "train() result")
    history = []
    for snap in result["epochs"][:10]:  # the arguments of each on_epoch_end(epoch, weights, biases) call
        try:
            history.append(performance(*read_params(snap[1:], "snapshot"), x, y_test))
        except (AssertionError, KeyError, TypeError):
            break
    loss, correct = performance(weights, biases, x, y_test)
    accuracy = correct / len(y_test)
    left_out = ""
    if artifacts is not None:
        from questions.q4_numpy_backprop import plots
        left_out = plots.q4_training(artifacts / "q4.png", history, (loss, correct), len(y_test))
    credit(linear_credit(accuracy, ZERO_AT, FULL_AT))
    note(f"test accuracy after 3 epochs: {accuracy:.2%} (average loss {loss:.3f})"
         + (f"; {left_out}" if left_out else ""))
    assert accuracy >= FULL_AT, (
        f"after 3 epochs your network gets {accuracy:.2%} of the test set right (average loss {loss:.3f}); "
        f"full credit from {FULL_AT:.0%}, partial from {ZERO_AT:.0%}.\nHint: per-sample SGD with learning rate "
        f"0.003, in dataset order; if the gradient checks pass, check that train() applies every update.")
