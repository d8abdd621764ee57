"""Q4 checks: correct answers (including unusual ones) pass; each plausible mistake fails with a pointed message."""

import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, failed, mutate, solution_source

STEM = "q4_numpy_backprop"
REF = solution_source(STEM)
GRADIENT_CHECKS = {f"test_backward_gradient[{n}]" for n in ("W1", "W2", "W3", "b1", "b2", "b3")}


def test_reference_passes_every_check(grade_source):
    results = grade_source(STEM, REF)
    assert not failed(results), {k: v["output"] for k, v in results.items() if v["status"] != "passed"}


def test_missing_sigmoid_derivative_is_named(grade_source):
    source = mutate(REF, "    delta2 = np.dot(delta3, weights[2].T) * (a2 * (1 - a2))\n",
                    "    delta2 = np.dot(delta3, weights[2].T)\n")
    source = mutate(source, "    delta1 = np.dot(delta2, weights[1].T) * (a1 * (1 - a1))\n",
                    "    delta1 = np.dot(delta2, weights[1].T)\n")
    results = grade_source(STEM, source)
    bad = failed(results)
    assert {"test_backward_gradient[W1]", "test_backward_gradient[W2]", "test_backward_gradient[b1]",
            "test_backward_gradient[b2]"} <= bad
    assert not {"test_backward_gradient[W3]", "test_backward_gradient[b3]"} & bad
    assert "without the sigmoid derivative" in results["test_backward_gradient[W2]"]["output"]


def test_fan_in_variance_fails_only_the_hidden_init_check(grade_source):
    source = mutate(REF, "weights = [rng.normal(0, 1 / np.sqrt(max(n_in, n_out)), (n_in, n_out))",
                    "weights = [rng.normal(0, 1 / np.sqrt(n_in), (n_in, n_out))")
    results = grade_source(STEM, source)
    assert failed(results) == {"test_init_variance_uses_max_fan"}
    assert "1/n_in" in results["test_init_variance_uses_max_fan"]["output"]


def test_std_passed_as_variance_fails_visible_init_check(grade_source):
    source = mutate(REF, "weights = [rng.normal(0, 1 / np.sqrt(max(n_in, n_out)), (n_in, n_out))",
                    "weights = [rng.normal(0, 1 / max(n_in, n_out), (n_in, n_out))")
    results = grade_source(STEM, source)
    assert "test_init_statistics" in failed(results)
    assert "standard deviation" in results["test_init_statistics"]["output"]


def test_batch_softmax_over_wrong_axis_fails_forward(grade_source):
    source = mutate(REF, "    e = np.exp(logits - logits.max(axis=-1, keepdims=True))\n"
                         "    return e / e.sum(axis=-1, keepdims=True)\n",
                    "    return softmax(logits)\n")
    results = grade_source(STEM, source)
    assert "test_forward_matches_reference" in failed(results)
    assert "softmax over each row" in results["test_forward_matches_reference"]["output"]


def test_sign_flipped_gradient_is_named(grade_source):
    source = mutate(REF, "    delta3 = probabilities - target\n", "    delta3 = target - probabilities\n")
    results = grade_source(STEM, source)
    assert GRADIENT_CHECKS <= failed(results)
    assert "sign is flipped" in results["test_backward_gradient[W3]"]["output"]


def test_update_that_is_not_in_place_fails_sgd_check(grade_source):
    source = mutate(REF, "    w3 -= step\n", "    w3 = w3 - step\n")
    results = grade_source(STEM, source)
    assert "test_sgd_step" in failed(results)
    out = results["test_sgd_step"]["output"]
    assert "W3 unchanged" in out and "W3 did not change: update every array in place" in out


def test_loop_based_answers_pass(grade_source):
    """An unusual but valid evaluate: a per-sample loop instead of a vectorised pass."""
    start = REF.index("    probabilities = forward(weights, biases, x)\n    targets")
    end = REF.index("    # END SOLUTION", start)
    body = ("    total, correct = 0.0, 0\n"
            "    for i in range(len(x)):\n"
            "        p = forward(weights, biases, x[i:i + 1])[0]\n"
            "        total += -np.log(p[y[i]])\n"
            "        correct += int(np.argmax(p) == y[i])\n"
            "    return total / len(x), correct\n")
    results = grade_source(STEM, REF[:start] + body + REF[end:])
    assert not failed(results), {k: results[k]["output"] for k in failed(results)}


def test_stub_scores_zero(grade_source):
    results = grade_source(STEM, (ROOT / "assignments" / f"{STEM}.py").read_text())
    assert all(r["score"] == 0 for r in results.values())


@pytest.mark.slow
def test_training_check_passes_for_reference_and_fails_without_updates(grade_source):
    results = grade_source(STEM, REF, training=True)
    check = results["test_training_reaches_70_percent"]
    assert check["status"] == "passed" and "test accuracy after 3 epochs" in check["output"]
    assert "all 3 epochs replayed and confirmed" in check["output"]
    lazy = mutate(REF, "            train_one_sample(weights, biases, x_train[i], y_train[i], learning_rate)\n",
                  "            pass\n")
    results = grade_source(STEM, lazy, training=True)
    check = results["test_training_reaches_70_percent"]
    assert check["status"] == "failed" and check["score"] == 0
    assert "against one epoch of per-sample SGD replayed from init_params(rng)" in check["output"]


BACKWARD_START = "def backward(weights, biases, x, y):\n"
TRAIN_START = "def train(x_train, y_train, epochs=3, learning_rate=LEARNING_RATE, rng=None, on_epoch_end=None):\n"


def replace_function(source: str, header: str, new: str) -> str:
    """``source`` with the function that starts at ``header`` replaced by ``new`` (a whole definition)."""
    start = source.index(header)
    end = source.index("\n\n\n", start)
    return source[:start] + new.rstrip("\n") + source[end:]


FD_BACKWARD = '''def backward(weights, biases, x, y, h=1e-6):
    def loss():
        return float(-np.log(forward(weights, biases, x[None, :])[0, y]))
    grads = []
    for p in weights + biases:
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + h
            up = loss()
            p[idx] = old - h
            down = loss()
            p[idx] = old
            g[idx] = (up - down) / (2 * h)
        grads.append(g)
    return loss(), grads[:3], grads[3:]
'''

COMPLEX_STEP_BACKWARD = '''def backward(weights, biases, x, y, h=1e-30):
    def loss(z1, params):  # z1: (k, 32) complex pre-activations of the first layer; one loss per row
        a = 1 / (1 + np.exp(-z1))
        a = 1 / (1 + np.exp(-(a @ params[1] + params[4])))
        z = a @ params[2] + params[5]
        z = z - z.real.max(axis=1, keepdims=True)
        return -(z[:, y] - np.log(np.exp(z).sum(axis=1)))
    params = [p.astype(complex) for p in weights + biases]
    z1 = x @ params[0] + params[3]
    n_in, n_h = weights[0].shape
    nudged = np.repeat(z1[None, :], n_in * n_h + n_h, axis=0)
    rows = np.arange(n_in * n_h)
    nudged[rows, rows % n_h] += 1j * h * np.repeat(x, n_h)  # W1[i, j] moves z1[j] by x[i]
    nudged[n_in * n_h + np.arange(n_h), np.arange(n_h)] += 1j * h  # b1[j] moves z1[j]
    first = loss(nudged, params).imag / h
    grads = [first[:n_in * n_h].reshape(n_in, n_h), None, None, first[n_in * n_h:], None, None]
    for k in (1, 2, 4, 5):  # the smaller layers one entry at a time
        g = np.zeros(weights[k].shape if k < 3 else biases[k - 3].shape)
        for idx in np.ndindex(g.shape):
            old = params[k][idx]
            params[k][idx] = old + 1j * h
            g[idx] = loss(z1[None, :], params)[0].imag / h
            params[k][idx] = old
        grads[k] = g
    return float(loss(z1[None, :], params)[0].real), grads[:3], grads[3:]
'''

LOOP_BACKWARD = '''def backward(weights, biases, x, y):
    activations = [x]
    for w, b in zip(weights[:2], biases[:2]):
        activations.append(sigmoid(activations[-1] @ w + b))
    p = softmax(activations[-1] @ weights[2] + biases[2])
    loss = float(-np.log(p[y]))
    delta = p - integer_to_one_hot(y, 10)
    weight_grads, bias_grads = [None] * 3, [None] * 3
    for layer in (2, 1, 0):
        a = activations[layer]
        g = np.zeros((len(a), len(delta)))
        for i in range(len(a)):  # the outer product written as a loop: slow, but backpropagation
            for j in range(len(delta)):
                g[i, j] = a[i] * delta[j]
        weight_grads[layer], bias_grads[layer] = g, delta
        if layer:
            delta = (weights[layer] @ delta) * activations[layer] * (1 - activations[layer])
    return loss, weight_grads, bias_grads
'''

TF_BACKWARD = '''def backward(weights, biases, x, y):
    params = [tf.Variable(p) for p in weights + biases]
    with tf.GradientTape() as tape:
        a = tf.constant(x[None, :])
        for i in range(2):
            a = tf.sigmoid(a @ params[i] + params[3 + i])
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[y], logits=a @ params[2] + params[5])[0]
    grads = [g.numpy() for g in tape.gradient(loss, params)]
    return float(loss.numpy()), grads[:3], grads[3:]
'''

ADAM_TRAIN = '''def train(x_train, y_train, epochs=3, learning_rate=LEARNING_RATE, rng=None, on_epoch_end=None):
    if rng is None:
        rng = np.random.default_rng(SEED)
    weights, biases = init_params(rng)
    params = weights + biases
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    t = 0
    for epoch in range(1, epochs + 1):
        for start in range(0, len(x_train), 8):
            grads = [np.zeros_like(p) for p in params]
            for i in range(start, min(start + 8, len(x_train))):
                _, gw, gb = backward(weights, biases, x_train[i], y_train[i])
                for g, gi in zip(grads, gw + gb):
                    g += gi / 8
            t += 1
            for p, g, mi, vi in zip(params, grads, m, v):
                mi[...] = 0.9 * mi + 0.1 * g
                vi[...] = 0.999 * vi + 0.001 * g * g
                p -= 1e-3 * (mi / (1 - 0.9 ** t)) / (np.sqrt(vi / (1 - 0.999 ** t)) + 1e-8)
        if on_epoch_end is not None:
            on_epoch_end(epoch, weights, biases)
    return weights, biases
'''

BACKWARD_THEN_STEP_TRAIN = '''def train(x_train, y_train, epochs=3, learning_rate=LEARNING_RATE, rng=None, on_epoch_end=None):
    weights, biases = init_params(rng if rng is not None else np.random.default_rng(SEED))
    for epoch in range(epochs):
        for xi, yi in zip(x_train, y_train):
            _, gw, gb = backward(weights, biases, xi, yi)
            weights = [w - learning_rate * g for w, g in zip(weights, gw)]
            biases = [b - learning_rate * g for b, g in zip(biases, gb)]
        if on_epoch_end:
            on_epoch_end(epoch + 1, weights, biases)
    return weights, biases
'''


@pytest.mark.parametrize("backward", [FD_BACKWARD, COMPLEX_STEP_BACKWARD], ids=["central", "complex-step"])
def test_backward_by_differences_fails_the_cost_bound(grade_source, backward):
    results = grade_source(STEM, replace_function(REF, BACKWARD_START, backward))
    assert failed(results) == GRADIENT_CHECKS | {"test_backward_second_point"}
    for name in ("test_backward_gradient[W1]", "test_backward_second_point"):
        assert "finite or complex-step differences" in results[name]["output"]


def test_backpropagation_with_python_loops_is_within_the_cost_bound(grade_source):
    """An unusual but valid backward: the outer products as Python loops (about 60 forward passes' cost)."""
    results = grade_source(STEM, replace_function(REF, BACKWARD_START, LOOP_BACKWARD))
    assert not failed(results), {k: results[k]["output"] for k in failed(results)}


def test_handout_import_of_tensorflow_costs_nothing(grade_source):
    source = REF.replace("import numpy as np\n", "import numpy as np\nimport tensorflow as tf\n"
                         "from tensorflow.keras.datasets import mnist\n", 1)
    results = grade_source(STEM, source)
    assert not failed(results), {k: results[k]["output"] for k in failed(results)}


def test_tensorflow_autodiff_is_refused_by_name(grade_source):
    source = REF.replace("import numpy as np\n", "import numpy as np\nimport tensorflow as tf\n", 1)
    results = grade_source(STEM, replace_function(source, BACKWARD_START, TF_BACKWARD))
    assert GRADIENT_CHECKS <= failed(results)
    assert ("TensorFlow is not available in Q4: the gradients must be written in numpy"
            in results["test_backward_gradient[W1]"]["output"])


@pytest.mark.parametrize("module", ["torch", "jax", "keras", "autograd"])
def test_other_autodiff_packages_are_placeholders(grade_source, module):
    source = REF.replace("import numpy as np\n", f"import numpy as np\nimport {module} as _ad\n", 1)
    source = replace_function(source, BACKWARD_START, "def backward(weights, biases, x, y):\n    return _ad.grad(x)\n")
    results = grade_source(STEM, source)
    assert GRADIENT_CHECKS <= failed(results) and "test_init_shapes" not in failed(results)
    assert "is not available in Q4" in results["test_backward_gradient[W1]"]["output"]


def test_minibatch_adam_train_fails_the_sgd_replay_by_name(grade_source):
    results = grade_source(STEM, replace_function(REF, TRAIN_START, ADAM_TRAIN))
    assert failed(results) == {"test_train_is_per_sample_sgd"}
    out = results["test_train_is_per_sample_sgd"]["output"]
    assert "Adam" in out and "per image, in dataset order" in out


def test_sgd_train_written_differently_passes_the_replay(grade_source):
    """An unusual but valid train: backward then new arrays instead of train_one_sample's in-place steps."""
    results = grade_source(STEM, replace_function(REF, TRAIN_START, BACKWARD_THEN_STEP_TRAIN))
    assert not failed(results), {k: results[k]["output"] for k in failed(results)}


def test_shuffled_sgd_fails_the_replay(grade_source):
    shuffled = mutate(REF, "        for i in range(len(x_train)):\n",
                      "        for i in rng.permutation(len(x_train)):\n")
    results = grade_source(STEM, shuffled)
    assert failed(results) == {"test_train_is_per_sample_sgd"}
    assert "after epoch 1" in results["test_train_is_per_sample_sgd"]["output"]


def _secret_in_a_new_process() -> str:
    code = ("from grader.checking import checklib\n"
            "print(checklib.input_mixing()[0, :3].tolist(), checklib.secret_rng('x').integers(1 << 62))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout


def test_the_secret_is_fresh_for_every_run_and_written_nowhere():
    from grader.checking import checklib

    assert _secret_in_a_new_process() != _secret_in_a_new_process()
    q = checklib.input_mixing()
    assert np.allclose(q @ q.T, np.eye(784), atol=1e-12)
    assert not (ROOT / "grader" / "hidden" / "secret.py").read_text().count("SEED")


def _class_means(x, y):
    return np.stack([x[y == k].mean(axis=0) for k in range(10)], axis=1)  # (784, 10)


def test_pixel_statistics_undo_a_permutation_but_not_the_mixing():
    """The statistics-recovery attack: match each input column's per-class means to the public pixels', reorder
    pasted nearest-class-mean weights that way. It recovers a secret permutation, and gets nothing from the mixing."""
    from grader.checking import checklib
    from nnkit.data import load_mnist
    from questions.q4_numpy_backprop.common import probabilities

    (x, y), (x_test, y_test) = load_mnist()
    x, x_test = x.reshape(-1, 784) / 255.0, x_test.reshape(-1, 784) / 255.0
    public = _class_means(x, y)
    w1 = np.zeros((784, 32))
    w1[:, :10] = 0.05 * public
    b1 = np.zeros(32)
    b1[:10] = -0.025 * (public ** 2).sum(axis=0)
    w2, b2 = np.zeros((32, 32)), np.zeros(32)
    w2[:10, :10], b2[:10] = 8 * np.eye(10), -4.0
    w3 = np.zeros((32, 10))
    w3[:10, :10] = 50 * np.eye(10)

    def attacked_accuracy(train_rows, test_rows):
        given = _class_means(train_rows, y)
        order = np.argmin(((given[:, None, :] - public[None, :, :]) ** 2).sum(axis=2), axis=1)
        probs = probabilities([w1[order], w2, w3], [b1, b2, np.zeros(10)], test_rows)
        return float(np.mean(np.argmax(probs, axis=1) == y_test))

    perm = np.random.default_rng().permutation(784)  # what the grader used for Q3 before the mixing
    assert attacked_accuracy(x[:, perm], x_test[:, perm]) >= 0.75
    # 25-36% over six mixings: below ZERO_AT (60%), so no credit
    assert attacked_accuracy(checklib.mixed(x, 1.0), checklib.mixed(x_test, 1.0)) < 0.5


INIT_LINE = "    weights = [rng.normal(0, 1 / np.sqrt(max(n_in, n_out)), (n_in, n_out)) for n_in, n_out in pairs]\n"


@pytest.mark.parametrize("line, words", [
    ("    weights = [np.random.normal(0, 1 / np.sqrt(max(n_in, n_out)), (n_in, n_out)) for n_in, n_out in pairs]\n",
     "does not take its randomness from the rng it is given"),
    ("    own = np.random.default_rng(0)\n"
     "    weights = [own.normal(0, 1 / np.sqrt(max(n_in, n_out)), (n_in, n_out)) for n_in, n_out in pairs]\n",
     "ignores the rng it is given"),
])
def test_init_that_ignores_its_rng_is_named(grade_source, line, words):
    results = grade_source(STEM, mutate(REF, INIT_LINE, line), hidden=False)
    assert "test_init_shapes" in failed(results) and "test_init_statistics" not in failed(results)
    assert words in results["test_init_shapes"]["output"]


def test_init_drawn_another_valid_way_from_its_rng_passes(grade_source):
    """Unusual but valid: standard normals scaled by hand, drawn transposed, from the rng given."""
    line = ("    weights = [(rng.standard_normal((n_out, n_in)) / np.sqrt(max(n_in, n_out))).T\n"
            "               for n_in, n_out in pairs]\n")
    results = grade_source(STEM, mutate(REF, INIT_LINE, line), hidden=False, training=False)
    assert not {"test_init_shapes", "test_init_statistics"} & failed(results)
