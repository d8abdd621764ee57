"""The Q4 reference solution (solutions/q4_numpy_backprop.py) against the handout's specification."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from nnkit.gradcheck import assert_gradients_close, numerical_gradient
from nnkit.stubgen import strip_solutions
from solutions import q4_numpy_backprop as q4

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions" / "q4_numpy_backprop.py"
TRANSCRIPTION = ROOT / "bench" / "handout_q4.py"
SHAPES_W = [(784, 32), (32, 32), (32, 10)]
SHAPES_B = [(32,), (32,), (10,)]
NAMES = ["W1", "W2", "W3", "b1", "b2", "b3"]


@pytest.fixture(scope="module")
def mnist():
    """Both input modes of the real data: {False: [0, 1] pixels, True: raw 0-255 pixels}."""
    return {handout: q4.load_data(handout=handout) for handout in (False, True)}


@pytest.fixture(scope="module")
def handout_q4():
    """bench/handout_q4.py, the literal per-sample transcription of the handout, loaded from its path."""
    spec = importlib.util.spec_from_file_location("handout_q4", TRANSCRIPTION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copy_params(weights, biases):
    return [w.copy() for w in weights], [b.copy() for b in biases]


def perturbed_params(seed):
    """Initial weights plus non-zero biases (zero biases would hide a bias that is never added)."""
    rng = np.random.default_rng(seed)
    weights, biases = q4.init_params(rng)
    return weights, [rng.normal(0, 0.1, b.shape) for b in biases]


def trained_params(mnist, handout, n=2000):
    weights, biases = q4.init_params(np.random.default_rng(q4.SEED))
    (x, y), _ = mnist[handout]
    for i in range(n):
        q4.train_one_sample(weights, biases, x[i], y[i])
    return weights, biases


def test_load_data_shapes_and_dtypes(mnist):
    """load_data returns flattened float64 images and int labels, rescaled only in the default mode."""
    for handout, ((x_train, y_train), (x_test, y_test)) in mnist.items():
        assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784), (x_train.shape, x_test.shape)
        assert x_train.dtype == x_test.dtype == np.float64
        assert y_train.shape == (60000,) and y_test.shape == (10000,)
        assert np.issubdtype(y_train.dtype, np.integer) and set(np.unique(y_test)) == set(range(10))
        top = 255.0 if handout else 1.0
        assert x_train.min() == 0.0 and x_train.max() == top, f"handout={handout}: pixel range should be [0, {top}]"
    assert np.array_equal(mnist[False][0][0], mnist[True][0][0] / 255.0)


def test_init_params_shapes_and_dtypes():
    """init_params returns three float64 weight matrices and three zero bias vectors of the handout's shapes."""
    weights, biases = q4.init_params(np.random.default_rng(0))
    assert [w.shape for w in weights] == SHAPES_W
    assert [b.shape for b in biases] == SHAPES_B
    assert all(a.dtype == np.float64 for a in weights + biases)
    assert all(not b.any() for b in biases), "biases must start at zero"


@pytest.mark.parametrize("seed", [q4.SEED, 0, 1, 2])
def test_init_params_statistics(seed):
    """Each weight matrix has mean 0 and variance 1/max(n_in, n_out), within 5 standard errors."""
    weights, _ = q4.init_params(np.random.default_rng(seed))
    for name, w in zip(NAMES, weights):
        n = w.size
        variance = 1 / max(w.shape)
        # For n iid N(0, s2) draws: the sample mean has standard error sqrt(s2 / n); the mean of squares (an
        # unbiased variance estimate when the mean is known to be 0) has variance 2 s2^2 / n.
        # 5 standard errors: a false alarm has probability 6e-7 per check.
        mean_bound = 5 * np.sqrt(variance / n)
        var_bound = 5 * variance * np.sqrt(2 / n)
        assert abs(w.mean()) < mean_bound, f"{name}: mean {w.mean():.3g}, expected 0 +- {mean_bound:.3g}"
        got = np.mean(w ** 2)
        assert abs(got - variance) < var_bound, (
            f"{name}: variance {got:.4g}, expected {variance:.4g} +- {var_bound:.2g} "
            f"(standard deviation should be 1/sqrt(max(n_in, n_out)) = {np.sqrt(variance):.4g})")


def test_init_params_reproducible_draw_order():
    """With seed 80085 the weights are exactly the normal draws for W1, then W2, then W3."""
    rng = np.random.default_rng(80085)
    expected = [rng.normal(0, 1 / np.sqrt(max(n_in, n_out)), (n_in, n_out)) for n_in, n_out in SHAPES_W]
    weights, _ = q4.init_params(np.random.default_rng(80085))
    for name, got, want in zip(NAMES, weights, expected):
        np.testing.assert_array_equal(got, want, err_msg=f"{name} differs from the seeded draw order W1, W2, W3")
    again, _ = q4.init_params(np.random.default_rng(80085))
    assert all(np.array_equal(a, b) for a, b in zip(weights, again))


def test_sigmoid_clips_at_500_without_warnings():
    """sigmoid clips its input to [-500, 500], is stable for huge inputs and warns about nothing."""
    x = np.array([-1e308, -1000.0, -501.0, -500.0, -1.0, -0.0, 0.0, 1.0, 500.0, 1000.0, 1e308])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        s = q4.sigmoid(x)
        ds = q4.dsigmoid(x)
    small = np.exp(-500.0) / (1 + np.exp(-500.0))
    assert s[0] == s[1] == s[2] == s[3] == small > 0, "inputs below -500 behave as -500 (clipped, not 0)"
    assert s[-1] == s[-2] == s[-3] == 1.0
    assert s[5] == s[6] == 0.5 and ds[6] == 0.25
    np.testing.assert_allclose(s[4], 1 / (1 + np.e), rtol=1e-15)
    np.testing.assert_allclose(s[7], 1 / (1 + np.exp(-1)), rtol=1e-15)
    np.testing.assert_array_equal(ds, s * (1 - s))


def test_fast_sigmoid_matches_handout_sigmoid_bitwise():
    """The training loop's private sigmoid equals the handout's bit for bit (NaN stays NaN)."""
    rng = np.random.default_rng(3)
    z = np.concatenate([rng.normal(0, scale, 20000) for scale in (1, 10, 100, 1000)]
                       + [np.array([0.0, -0.0, 500, -500, 501, -501, 745, -745, 746, -746, 1e308, -1e308,
                                    np.inf, -np.inf, np.nan])])
    np.testing.assert_array_equal(q4._sigmoid(z), q4.sigmoid(z))
    assert np.array_equal(q4._sigmoid(z).view(np.int64)[:-1], q4.sigmoid(z).view(np.int64)[:-1])


def test_softmax_loss_one_hot_helpers():
    """softmax normalises one vector stably; the loss is -log of the true class's probability; one-hot has one 1."""
    z = np.array([1000.0, 999.0, -1000.0])
    p = q4.softmax(z)
    np.testing.assert_allclose(p, [1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1)), 0.0], atol=1e-15)
    np.testing.assert_allclose(q4.softmax(z - 1000.0), p, rtol=1e-15)
    np.testing.assert_array_equal(q4.integer_to_one_hot(3, 10), np.eye(10)[3])
    q = np.linspace(1, 10, 10) / 55
    assert q4.cross_entropy_loss(q4.integer_to_one_hot(4, 10), q) == -np.log(q[4])


def test_forward_shapes_and_row_normalisation():
    """forward maps (n, 784) to (n, 10) probabilities, row by row, matching one image at a time."""
    weights, biases = perturbed_params(5)
    x = np.random.default_rng(5).uniform(0, 1, (7, 784))
    p = q4.forward(weights, biases, x)
    assert p.shape == (7, 10) and p.dtype == np.float64
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-14)
    for i in range(7):
        a1 = q4.sigmoid(x[i] @ weights[0] + biases[0])
        a2 = q4.sigmoid(a1 @ weights[1] + biases[1])
        np.testing.assert_allclose(p[i], q4.softmax(a2 @ weights[2] + biases[2]), rtol=1e-13)


LONG = np.longdouble


def extended_loss(weights, biases, x, y):
    """The network's cross-entropy recomputed in x87 extended precision, from the same float64 parameters."""
    a = x.astype(LONG)
    for w, b in zip(weights[:-1], biases[:-1]):
        a = 1 / (1 + np.exp(-(a @ w.astype(LONG) + b)))
    z = a @ weights[-1].astype(LONG) + biases[-1]
    z = z - z.max()
    return np.log(np.exp(z).sum()) - z[y]


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="needs an extended-precision np.longdouble")
@pytest.mark.parametrize("seed", [11, 12])
def test_backward_gradients_match_central_differences(seed):
    """The analytic gradients of all six parameters agree with central differences to 1e-7."""
    weights, biases = perturbed_params(seed)
    rng = np.random.default_rng(seed + 100)
    x = rng.uniform(0.05, 1.0, 784)  # every pixel non-zero, so every entry of W1 has a gradient to check
    y = int(rng.integers(10))
    loss, weight_grads, bias_grads = q4.backward(weights, biases, x, y)
    assert [g.shape for g in weight_grads] == SHAPES_W and [g.shape for g in bias_grads] == SHAPES_B
    forward_loss = q4.cross_entropy_loss(q4.integer_to_one_hot(y, 10), q4.forward(weights, biases, x[None])[0])
    assert loss == pytest.approx(forward_loss, rel=1e-13), "backward's loss should be the cross-entropy of forward"
    base = extended_loss(weights, biases, x, y)
    assert abs(float(base) - loss) < 1e-13

    # The numerical side is a difference of losses. Evaluated in float64 the loss carries ~3 ulp of rounding
    # noise (~6e-16), i.e. ~3e-11 of error in each difference quotient with h = 1e-5, which alone puts W1 entries
    # below ~3e-4 past 1e-7 (measured: up to 6.5e-7). So the loss is evaluated in extended precision and returned
    # as its (small) difference from the unperturbed loss: measured max relative errors over seeds 0-5 are
    # 2e-10 (W1, W2), 4e-11 (b1, b2), 8e-12 (W3, b3), a margin of 500x or more below the 1e-7 tolerance.
    def loss_change():
        return float(extended_loss(weights, biases, x, y) - base)

    # All of W2, W3 and the biases; 1000 random entries of W1 (all 25088 take ~10 s).
    w1_entries = np.sort(rng.choice(weights[0].size, size=1000, replace=False))
    w1_full = weights[0]
    picked = w1_full.flat[w1_entries].copy()

    def loss_change_w1():
        weights[0] = w1_full.copy()
        weights[0].flat[w1_entries] = picked
        try:
            return loss_change()
        finally:
            weights[0] = w1_full

    hints = {
        "W1": "check delta1 = (delta2 @ W2.T) * a1 * (1 - a1) and the outer product with the input x",
        "W2": "check delta2 = (delta3 @ W3.T) * a2 * (1 - a2) and the outer product with a1",
        "W3": "the output delta of softmax + cross-entropy is probabilities - one_hot(y); outer with a2",
        "b1": "the bias gradient of a layer is that layer's delta", "b2": "the bias gradient is the layer's delta",
        "b3": "the bias gradient of the output layer is probabilities - one_hot(y)",
    }
    checks = [("W1", picked, weight_grads[0].flat[w1_entries], loss_change_w1),
              ("W2", weights[1], weight_grads[1], loss_change), ("W3", weights[2], weight_grads[2], loss_change),
              ("b1", biases[0], bias_grads[0], loss_change), ("b2", biases[1], bias_grads[1], loss_change),
              ("b3", biases[2], bias_grads[2], loss_change)]
    for name, param, analytic, f in checks:
        numeric = numerical_gradient(f, param, h=1e-5)
        assert_gradients_close(analytic, numeric, tol=1e-7, name=name, hint=hints[name])
    assert np.array_equal(weights[0], w1_full) and weights[0] is w1_full


@pytest.mark.parametrize("handout", [False, True])
def test_train_one_sample_is_one_exact_sgd_step(mnist, handout):
    """train_one_sample leaves exactly p - grad * 0.003 in every parameter and returns the loss before the step."""
    weights, biases = trained_params(mnist, handout, n=300)
    (x, y), _ = mnist[handout]
    for i in range(300, 340):
        loss, weight_grads, bias_grads = q4.backward(weights, biases, x[i], y[i])
        expected = [p - g * 0.003 for p, g in zip(weights + biases, weight_grads + bias_grads)]
        arrays = weights + biases
        returned = q4.train_one_sample(weights, biases, x[i], y[i], 0.003)
        assert returned == loss, f"sample {i}: returned loss {returned!r}, backward's loss {loss!r}"
        for name, got, want, before in zip(NAMES, weights + biases, expected, arrays):
            assert got is before, f"{name} must be updated in place"
            # Bit for bit: pixels that are exactly 0 give W1 rows an update of exactly 0, so skipping them is exact.
            np.testing.assert_array_equal(got, want, err_msg=f"sample {i}: {name} is not p - grad * lr")


@pytest.mark.parametrize("handout", [False, True])
def test_evaluate_matches_per_sample_loop(mnist, handout):
    """The vectorised evaluate gives the same average loss and count as a loop over single images."""
    weights, biases = trained_params(mnist, handout)
    _, (x, y) = mnist[handout]
    x, y = x[:1500], y[:1500]
    losses, n_correct = [], 0
    for xi, yi in zip(x, y):
        loss, _, _ = q4.backward(weights, biases, xi, yi)
        losses.append(loss)
        n_correct += int(np.argmax(q4.forward(weights, biases, xi[None])[0]) == yi)
    average_loss, got_correct = q4.evaluate(weights, biases, x, y)
    assert isinstance(got_correct, int) and isinstance(average_loss, float)
    assert got_correct == n_correct
    assert average_loss == pytest.approx(np.average(losses), rel=1e-12)


@pytest.mark.parametrize("handout", [False, True])
def test_reference_matches_handout_transcription(mnist, handout, handout_q4, capsys):
    """Reference and bench/handout_q4.py print identical numbers (2000 training images, 1 epoch)."""
    (x_train, y_train), (x_test, y_test) = mnist[handout]
    x_train, y_train, x_test, y_test = x_train[:2000], y_train[:2000], x_test[:2000], y_test[:2000]

    ref_lines = []

    def report(epoch, weights, biases):
        ref_lines.extend(q4.format_evaluation(*q4.evaluate(weights, biases, x_test, y_test), len(y_test)).split("\n"))

    report(0, *q4.init_params(np.random.default_rng(q4.SEED)))
    ref_weights, ref_biases = q4.train(x_train, y_train, epochs=1, on_epoch_end=report)

    weights, biases = handout_q4.initial_parameters()
    capsys.readouterr()
    handout_q4.evaluate_one_by_one(weights, biases, x_test.reshape(-1, 28, 28), y_test)
    for i in range(len(x_train)):
        handout_q4.train_one(weights, biases, x_train[i].reshape(28, 28), y_train[i])
    handout_q4.evaluate_one_by_one(weights, biases, x_test.reshape(-1, 28, 28), y_test)
    assert capsys.readouterr().out.splitlines() == ref_lines
    for name, got, want in zip(NAMES, ref_weights + ref_biases, weights + biases):
        np.testing.assert_array_equal(got, want, err_msg=f"{name} differs from the transcription's after training")


def test_stub_keeps_docstrings_and_hides_the_solution():
    """The generated student stub keeps every docstring and the provided code, and no solution code."""
    source = SOURCE.read_text(encoding="utf-8")
    stub = strip_solutions(source, "solutions/q4_numpy_backprop.py")
    for fragment in ("_sigmoid", "copysign", "nonzero", "multiply.outer", "np.outer", "BEGIN SOLUTION"):
        assert fragment not in stub, f"{fragment!r} survives in the stub"
    namespace: dict = {"__name__": "q4_stub"}
    exec(compile(stub, "q4_stub", "exec"), namespace)
    assert namespace["__doc__"] == q4.__doc__
    for name in ("sigmoid", "dsigmoid", "softmax", "cross_entropy_loss", "integer_to_one_hot", "load_data",
                 "format_evaluation", "main"):
        assert namespace[name].__doc__ == getattr(q4, name).__doc__
    rng = np.random.default_rng(0)
    student = {"init_params": (rng,), "forward": (None, None, None), "backward": (None, None, None, 0),
               "train_one_sample": (None, None, None, 0), "evaluate": (None, None, None, None),
               "train": (None, None)}
    for name, args in student.items():
        assert namespace[name].__doc__ == getattr(q4, name).__doc__, f"{name}'s docstring changed in the stub"
        with pytest.raises(NotImplementedError):
            namespace[name](*args)
    np.testing.assert_array_equal(namespace["sigmoid"](np.array([-600.0, 0.0])), q4.sigmoid(np.array([-600.0, 0.0])))


def test_module_imports_without_loading_data():
    """Importing the module loads no data and imports nothing beyond numpy and argparse."""
    code = ("import sys, solutions.q4_numpy_backprop; "
            "print(sorted(m for m in ('nnkit.data', 'tensorflow', 'zarr') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.slow
def test_training_reaches_70_percent(mnist, record_property):
    """Three epochs on [0, 1] pixels reach at least 70% test accuracy (the reference reaches 92.77%)."""
    (x_train, y_train), (x_test, y_test) = mnist[False]
    accuracies = []

    def record(epoch, weights, biases):
        accuracies.append(q4.evaluate(weights, biases, x_test, y_test)[1] / len(y_test))

    q4.train(x_train, y_train, epochs=3, on_epoch_end=record)
    record_property("q4_test_accuracy_per_epoch", accuracies)
    print(f"q4 test accuracy after each epoch: {accuracies}")
    assert len(accuracies) == 3
    assert accuracies[-1] >= 0.70, f"test accuracy after 3 epochs is {accuracies[-1]:.2%}, expected at least 70%"
