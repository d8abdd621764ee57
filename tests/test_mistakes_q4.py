"""Q4's catalogue of known mistakes: each plausible mistake fails with a hint that names it (its words asserted), and
unusual but valid answers pass.

A graded run costs about 6 s, so each run below carries one mistake in each of several functions whose checks do not
depend on each other (backward, train_one_sample and init_params are independent in the reference; evaluate calls
forward, so a forward mistake shares a run only with a right evaluate)."""

import pytest
from conftest import failed, mutate, solution_source
from test_checks_q4 import BACKWARD_START, TRAIN_START, replace_function

STEM = "q4_numpy_backprop"
REF = solution_source(STEM)
BACKWARD = "test_backward_gradient[{}]"
STEP, EVALUATE, FORWARD = "test_sgd_step", "test_evaluate", "test_forward_matches_reference"
INIT = "test_init_shapes"

# train_one_sample written with backward, as most students do: valid, and the base of the step mutants below
STEP_VIA_BACKWARD = '''def train_one_sample(weights, biases, x, y, learning_rate=LEARNING_RATE):
    loss, weight_grads, bias_grads = backward(weights, biases, x, y)
    for p, g in zip(weights + biases, weight_grads + bias_grads):
        p -= learning_rate * g
    return loss
'''
STEP_START = "def train_one_sample(weights, biases, x, y, learning_rate=LEARNING_RATE):\n"
FORWARD_START = "def forward(weights, biases, x):\n"

SOFTMAX_ROWS = ("    e = np.exp(logits - logits.max(axis=-1, keepdims=True))\n"
                "    return e / e.sum(axis=-1, keepdims=True)\n")
INIT_WEIGHTS = "    weights = [rng.normal(0, 1 / np.sqrt(max(n_in, n_out)), (n_in, n_out)) for"
BIAS_GRADS = "    return loss, weight_grads, [delta1, delta2, delta3]\n"
AVERAGE = "float(np.average(losses))"
COUNT = "int(np.count_nonzero(probabilities.argmax(axis=1) == y))"


def edits(source: str, *pairs) -> str:
    """``source`` with each ``(old, new)`` or ``(old, new, count)`` of ``pairs`` applied by :func:`mutate`."""
    for pair in pairs:
        source = mutate(source, *pair)
    return source


def output(results: dict, name: str) -> str:
    assert results[name]["status"] == "failed", f"{name} should fail: {results[name]['output']}"
    return results[name]["output"]


def test_derivative_at_activation_uphill_step_summed_loss_transposed_init(grade_source):
    source = edits(REF,
                   ("    delta2 = np.dot(delta3, weights[2].T) * (a2 * (1 - a2))\n",
                    "    delta2 = np.dot(delta3, weights[2].T) * dsigmoid(a2)\n"),
                   ("    delta1 = np.dot(delta2, weights[1].T) * (a1 * (1 - a1))\n",
                    "    delta1 = np.dot(delta2, weights[1].T) * dsigmoid(a1)\n"),
                   ("    w3 -= step\n", "    w3 += step\n"), ("    b3 -= delta3\n", "    b3 += delta3\n"),
                   ("    w2 -= step\n", "    w2 += step\n"), ("    b2 -= delta2\n", "    b2 += delta2\n"),
                   ("    w1[rows] -= step\n", "    w1[rows] += step\n"), ("    b1 -= delta1\n", "    b1 += delta1\n"),
                   (AVERAGE, "float(np.sum(losses))"),
                   (INIT_WEIGHTS, "    weights = [rng.normal(0, 1 / np.sqrt(max(n_in, n_out)), (n_out, n_in)) for"))
    results = grade_source(STEM, source)
    assert "sigmoid derivative taken at the activation" in output(results, "test_backward_second_point")
    for name in ("W1", "W2", "b1", "b2"):
        assert "sigmoid derivative taken at the activation instead of the pre-activation" in output(
            results, BACKWARD.format(name))
    assert "s(s(z)) * (1 - s(s(z)))" in output(results, BACKWARD.format("W1"))
    assert not {BACKWARD.format("W3"), BACKWARD.format("b3")} & failed(results)
    step = output(results, STEP)
    assert "W1 moved uphill" in step and "the step goes uphill (p += learning_rate * gradient)" in step
    assert "that is the sum of the 32 images' losses: divide by their number" in output(results, EVALUATE)
    init = output(results, INIT)
    assert "expected an array of shape (784, 32), got shape (32, 784), the transpose" in init
    assert "weights are (n_in, n_out)" in init


def test_transposed_weight_gradients_steps_not_in_place_fraction_nonzero_biases(grade_source):
    source = edits(REF,
                   ("    weight_grads = [np.outer(x, delta1), np.outer(a1, delta2), np.outer(a2, delta3)]\n",
                    "    weight_grads = [np.outer(delta1, x), np.outer(delta2, a1), np.outer(a2, delta3)]\n"),
                   ("    w3 -= step\n", "    w3 = w3 - step\n"), ("    b3 -= delta3\n", "    b3 = b3 - delta3\n"),
                   ("    w2 -= step\n", "    w2 = w2 - step\n"), ("    b2 -= delta2\n", "    b2 = b2 - delta2\n"),
                   ("    w1[rows] -= step\n", "    w1 = w1.copy()\n    w1[rows] -= step\n"),
                   ("    b1 -= delta1\n", "    b1 = b1 - delta1\n"),
                   (COUNT, "float(np.mean(probabilities.argmax(axis=1) == y))"),
                   ("    biases = [np.zeros(n_out) for _, n_out in pairs]\n",
                    "    biases = [np.full(n_out, 0.1) for _, n_out in pairs]\n"))
    results = grade_source(STEM, source, hidden=False)
    w1 = output(results, BACKWARD.format("W1"))
    assert "expected an array of shape (784, 32), got shape (32, 784), the transpose" in w1
    assert "outer(the layer's input, its delta)" in w1
    assert "it is the transpose of the right gradient" in output(results, BACKWARD.format("W2"))  # W2 is square
    step = output(results, STEP)
    assert "none of the caller's arrays changed; update the arrays in place" in step
    assert "makes a new array the caller never sees" in step
    assert "that is the fraction of correct images (the accuracy): return the number" in output(results, EVALUATE)
    init = output(results, INIT)
    assert "b1 should start at zero" in init and "biases start as np.zeros(n_out)" in init


def test_bias_gradients_summed_wrongly_returned_params_argmax_loss(grade_source):
    source = edits(REF,
                   (BIAS_GRADS, "    return loss, weight_grads, [np.sum(delta1), np.sum(weight_grads[1], axis=0), "
                                "np.sum(weight_grads[2], axis=1)]\n"),
                   ("    losses = -np.sum(targets * np.log(probabilities), axis=1)\n",
                    "    losses = -np.log(probabilities.max(axis=1))\n"))
    source = edits(source,  # the step on copies, which it returns instead of the loss
                   ("    w1, w2, w3 = weights\n    b1, b2, b3 = biases\n",
                    "    w1, w2, w3 = [w.copy() for w in weights]\n    b1, b2, b3 = [b.copy() for b in biases]\n"),
                   ("    b1 -= delta1\n    return loss\n", "    b1 -= delta1\n    return [w1, w2, w3], [b1, b2, b3]\n"))
    results = grade_source(STEM, source, hidden=False)
    b1 = output(results, BACKWARD.format("b1"))
    assert "expected an array of shape (32,), got a number (" in b1  # a scalar is reported as a number
    assert "it is the sum of the right gradient's entries" in b1
    assert "it is the right gradient times the sum of the layer's inputs" in output(results, BACKWARD.format("b2"))
    b3 = output(results, BACKWARD.format("b3"))
    assert "got an array of shape (32,)" in b3 and "summed over its outputs (axis 1)" in b3
    assert not {BACKWARD.format(n) for n in ("W1", "W2", "W3")} & failed(results)
    assert "train_one_sample returned new parameters instead" in output(results, STEP)
    assert "loss of each image's most probable class" in output(results, EVALUATE)


def test_output_delta_without_target_missing_bias_update_percentage(grade_source):
    source = edits(REF,
                   ("    delta3 = probabilities - target\n", "    delta3 = probabilities\n"),
                   ("    delta3 *= learning_rate\n    b3 -= delta3\n", ""),
                   ("    delta2 *= learning_rate\n    b2 -= delta2\n", ""),
                   ("    delta1 *= learning_rate\n    b1 -= delta1\n", ""),
                   (COUNT, "100 * np.mean(probabilities.argmax(axis=1) == y)"))
    results = grade_source(STEM, source, hidden=False)
    for name in ("W1", "W3", "b3"):
        assert "it matches delta3 = p (the probabilities) instead of p - onehot(y)" in output(
            results, BACKWARD.format(name))
    step = output(results, STEP)
    assert "b1 unchanged; b2 unchanged; b3 unchanged" in step
    assert "the weights moved but the biases did not: update the biases too" in step
    assert "that is the percentage of correct images" in output(results, EVALUATE)


def test_learning_rate_and_factor_two_in_gradients_default_rate_in_step_class_mean(grade_source):
    source = edits(REF,
                   ("    return loss, weight_grads, [delta1, delta2, delta3]\n",
                    "    return loss, [LEARNING_RATE * g for g in weight_grads], [2 * delta1, 2 * delta2, 2 * delta3]\n"),
                   ("    step *= learning_rate\n", "    step *= LEARNING_RATE\n", 3),
                   ("    delta3 *= learning_rate\n", "    delta3 *= LEARNING_RATE\n"),
                   ("    delta2 *= learning_rate\n", "    delta2 *= LEARNING_RATE\n"),
                   ("    delta1 *= learning_rate\n", "    delta1 *= LEARNING_RATE\n"),
                   ("    losses = -np.sum(targets * np.log(probabilities), axis=1)\n",
                    "    losses = -targets * np.log(probabilities)\n"))
    results = grade_source(STEM, source, hidden=False)
    assert "times 0.003, the learning rate 0.003: backward returns the gradient of the loss alone" in output(
        results, BACKWARD.format("W2"))
    assert "it is the right gradient times 2, a factor 2" in output(results, BACKWARD.format("b1"))
    step = output(results, STEP)
    assert "learning_rate 0.01" in step
    assert "the step used the learning rate 0.003 (the default) instead of the learning_rate argument, 0.01" in step
    assert "mean over all n x 10 entries of onehot * log(p)" in output(results, EVALUATE)


def test_untransposed_propagation_loss_after_step_swapped_evaluate(grade_source):
    source = edits(REF,
                   ("    delta1 = np.dot(delta2, weights[1].T) * (a1 * (1 - a1))\n",
                    "    delta1 = np.dot(delta2, weights[1]) * (a1 * (1 - a1))\n"),
                   ("    b1 -= delta1\n    return loss\n",
                    "    b1 -= delta1\n    return float(-np.log(forward(weights, biases, x[None, :])[0, y]))\n"),
                   ("    return float(np.average(losses)), int(", "    return int("),
                   ("== y))\n    # END SOLUTION", "== y)), float(np.average(losses))\n    # END SOLUTION"))
    results = grade_source(STEM, source, hidden=False)
    for name in ("W1", "b1"):
        assert "passed back through W2 itself instead of its transpose" in output(results, BACKWARD.format(name))
    assert failed(results) & {BACKWARD.format(n) for n in ("W2", "W3", "b2", "b3")} == set()
    assert "that is the loss after the step: compute it before updating" in output(results, STEP)
    assert "the two values are swapped: return (average_loss, n_correct)" in output(results, EVALUATE)


def test_step_along_a_wrong_gradient_and_logits_from_forward(grade_source):
    source = edits(REF,
                   ("    delta2 = np.dot(delta3, weights[2].T) * (a2 * (1 - a2))\n",
                    "    delta2 = np.dot(delta3, weights[2].T)\n"),
                   ("    delta1 = np.dot(delta2, weights[1].T) * (a1 * (1 - a1))\n",
                    "    delta1 = np.dot(delta2, weights[1].T)\n"),
                   (SOFTMAX_ROWS, "    return logits\n"))
    source = replace_function(source, STEP_START, STEP_VIA_BACKWARD)
    results = grade_source(STEM, source, hidden=False)
    assert "without the sigmoid derivative" in output(results, BACKWARD.format("W2"))
    step = output(results, STEP)
    assert "moved along a wrong gradient" in step
    assert "the step follows a wrong gradient of W1: it matches backpropagation without the sigmoid derivative" in step
    assert "these are the output layer's logits a2 @ W3 + b3" in output(results, FORWARD)


def test_unknown_gradient_mistake_says_what_differs_missing_return_sigmoid_output(grade_source):
    source = edits(REF,
                   ("    delta1 = np.dot(delta2, weights[1].T) * (a1 * (1 - a1))\n",
                    "    delta1 = np.dot(delta2, weights[1].T) * (a1 * (1 + a1))\n"),
                   ("    b1 -= delta1\n    return loss\n", "    b1 -= delta1\n"),
                   (SOFTMAX_ROWS, "    return sigmoid(logits)\n"))
    results = grade_source(STEM, source, hidden=False)
    w1 = output(results, BACKWARD.format("W1"))
    assert "the gradient of W1 is not the derivative of the loss" in w1
    assert "no known mistake gives this gradient" in w1 and "entries differ" in w1 and "yours / expected" in w1
    assert "the loss train_one_sample returned: expected a number, got None" in output(results, STEP)
    assert "the output layer applies the sigmoid: it should apply the softmax over each row" in output(
        results, FORWARD)


@pytest.mark.parametrize("pairs, words", [
    ([("        a = sigmoid(a @ w + b)\n", "        a = sigmoid(a @ w)\n"),
      ("    logits = a @ weights[-1] + biases[-1]\n", "    logits = a @ weights[-1]\n")],
     "it matches the network without its biases"),
    ([(SOFTMAX_ROWS, "    e = np.exp(logits - logits.max())\n    return e / e.sum()\n")],
     "all entries together sum to 1: the softmax normalised the whole batch at once"),
    ([("        a = sigmoid(a @ w + b)\n", "        a = np.tanh(a @ w + b)\n")],
     "no known mistake gives these probabilities"),
], ids=["no-biases", "softmax-over-batch", "tanh-hidden"])
def test_forward_mistakes_are_named(grade_source, pairs, words):
    results = grade_source(STEM, edits(REF, *pairs), hidden=False)
    out = output(results, FORWARD)
    assert words in out
    assert "entries are off" in out  # what came back, the worst entry, comes before the hint


def test_train_running_fewer_epochs_than_asked_is_named(grade_source):
    """One training run: train() ignores its epochs argument and runs one epoch."""
    source = mutate(REF, "    for epoch in range(1, epochs + 1):\n", "    for epoch in range(1, 2):\n")
    results = grade_source(STEM, source, training=True)
    check = results["test_training_reaches_70_percent"]
    assert check["status"] == "failed" and check["score"] == 0
    assert "train(..., epochs=3) called on_epoch_end 1 times; expected once after each epoch" in check["output"]
    assert check["output"].startswith("test accuracy after ")  # the measured accuracy still heads the message
    assert "called on_epoch_end 1 times; expected once per epoch" in output(results, "test_train_is_per_sample_sgd")


LOOP_OVER_LAYERS_BACKWARD = '''def backward(weights, biases, x, y):
    activations = [np.asarray(x, dtype=np.float64)]
    for w, b in zip(weights[:-1], biases[:-1]):
        activations.append(sigmoid(activations[-1] @ w + b))
    p = softmax(activations[-1] @ weights[-1] + biases[-1])
    delta = p - integer_to_one_hot(y, 10)
    weight_grads, bias_grads = [], []
    for layer in reversed(range(len(weights))):
        weight_grads.insert(0, np.outer(activations[layer], delta))
        bias_grads.insert(0, delta)
        if layer > 0:
            a = activations[layer]
            delta = (delta @ weights[layer].T) * a * (1 - a)
    return float(-np.log(p[y])), weight_grads, bias_grads
'''
FLOAT32_FORWARD = '''def forward(weights, biases, x):
    a = np.asarray(x, dtype=np.float32)
    for w, b in zip(weights[:-1], biases[:-1]):
        a = 1 / (1 + np.exp(-(a @ w.astype(np.float32) + b.astype(np.float32))))
    logits = a @ weights[-1].astype(np.float32) + biases[-1].astype(np.float32)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float64)
'''
COPYING_TRAIN = '''def train(x_train, y_train, epochs=3, learning_rate=LEARNING_RATE, rng=None, on_epoch_end=None):
    weights, biases = init_params(np.random.default_rng(SEED) if rng is None else rng)
    weights, biases = [w.copy() for w in weights], [b.copy() for b in biases]
    for epoch in range(epochs):
        for xi, yi in zip(x_train, y_train):
            train_one_sample(weights, biases, xi, int(yi), learning_rate)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, weights, biases)
    return weights, biases
'''
NUMPY_SCALARS_EVALUATE_RETURN = ("    return np.float64(np.average(losses)), "
                                 "np.array(np.count_nonzero(probabilities.argmax(axis=1) == y))\n")


def test_unusual_but_valid_answers_pass(grade_source):
    """Backward as a loop over the layers, forward computed in float32 from converted inputs, train_one_sample by
    backward, a train() that copies the initial arrays and returns the trained copies, evaluate returning numpy
    scalars (a 0-d array among them), init drawn transposed from its rng."""
    source = replace_function(REF, BACKWARD_START, LOOP_OVER_LAYERS_BACKWARD)
    source = replace_function(source, FORWARD_START, FLOAT32_FORWARD)
    source = replace_function(source, STEP_START, STEP_VIA_BACKWARD)
    source = replace_function(source, TRAIN_START, COPYING_TRAIN)
    source = mutate(source, "    return float(np.average(losses)), int(np.count_nonzero(probabilities.argmax(axis=1) "
                            "== y))\n", NUMPY_SCALARS_EVALUATE_RETURN)
    source = mutate(source, INIT_WEIGHTS + " n_in, n_out in pairs]\n",
                    "    weights = [rng.normal(0, 1 / np.sqrt(max(n_in, n_out)), (n_out, n_in)).T for n_in, n_out in "
                    "pairs]\n")
    results = grade_source(STEM, source)
    assert not failed(results), {k: results[k]["output"] for k in failed(results)}
