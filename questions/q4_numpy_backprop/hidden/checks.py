"""Initialisation for other layer sizes, gradients at a second point, and train() as per-sample SGD."""

import numpy as np
import pytest

from grader.checking.checklib import assert_close
from grader.checking.messages import describe_value
from grader.running.runner import Call, Rng, StudentFailure
from questions.q4_numpy_backprop.common import (
    GRADIENT_MISTAKES,
    NAMES,
    check_backward_cost,
    gradient_hint,
    random_image,
    random_params,
    read_gradient,
    read_params,
)
from questions.q4_numpy_backprop.hidden.reference import backward, hidden_activations, sgd_replay

# n_out > n_in in the first layer and n_in > n_out in the second, so 1/n_in, 1/n_out and 1/max all differ somewhere
SIZES = (50, 120, 30, 10)
W, Bs = random_params(9)
X = random_image(9)
X[:] = np.where(X == 0, 0.35, X)  # every pixel non-zero: every W1 row has a gradient
Y = 3

# train() on a short sequence of the grader's: it must be per-sample SGD in dataset order from init_params(rng)
REPLAY_SEED, REPLAY_LR, REPLAY_EPOCHS = 31337, 0.05, 2
XR = np.stack([random_image(100 + i) for i in range(20)])
YR = np.random.default_rng(7).integers(0, 10, len(XR))

CALLS = [
    Call("hinit", "init_params", [Rng(5)], kwargs={"layer_sizes": list(SIZES)}),
    Call("hbackward", "backward", [W, Bs, X, Y]),
    Call("hbackward_cost", "backward", [[W, Bs, X, Y], [W, Bs, X[None, :]]], task="cost_ratio",
         extra={"baseline": "forward"}),
    Call("rinit", "init_params", [Rng(REPLAY_SEED)]),
    Call("replay", "train", [XR, YR], kwargs={"epochs": REPLAY_EPOCHS, "learning_rate": REPLAY_LR,
                                              "rng": Rng(REPLAY_SEED)}, task="train_epochs"),
]


@pytest.mark.check(points=1, hidden=True)
def test_init_variance_uses_max_fan(student):
    """init_params uses variance 1/max(n_in, n_out) for other layer sizes too"""
    w, b = read_params(student.value("hinit"), student.describe("hinit"), sizes=SIZES)
    for i in range(3):
        n_in, n_out = SIZES[i], SIZES[i + 1]
        target = 1.0 / max(n_in, n_out)
        var = float(w[i].var())
        # 5 standard errors of a sample variance (v * sqrt(2/n))
        if abs(var - target) > 5 * target * np.sqrt(2 / w[i].size):
            guess = {1 / n_in: "1/n_in", 1 / n_out: "1/n_out"}
            near = min(guess, key=lambda v: abs(v - var))
            hint = (f" It is close to {guess[near]} = {near:.4g}: use max(n_in, n_out)."
                    if abs(near - var) <= 5 * near * np.sqrt(2 / w[i].size) else "")
            raise AssertionError(f"W{i + 1} of shape ({n_in}, {n_out}) has variance {var:.4g}; expected "
                                 f"1/max({n_in}, {n_out}) = {target:.4g}.{hint}")


@pytest.mark.check(points=1, hidden=True)
def test_backward_second_point(student):
    """backward's gradients are right for an image where every pixel is non-zero"""
    check_backward_cost(student.value("hbackward_cost")["ratio"])
    value = student.value("hbackward")
    if not (isinstance(value, (list, tuple)) and len(value) == 3):
        raise StudentFailure(f"backward should return (loss, weight_grads, bias_grads); it returned "
                             f"{describe_value(value)}")
    _, gw, gb = value
    want_w, want_b = backward(W, Bs, X, Y)
    got = (list(gw) if isinstance(gw, (list, tuple)) else []) + (list(gb) if isinstance(gb, (list, tuple)) else [])
    assert len(got) == 6, "weight_grads and bias_grads should each be a list of three arrays"
    inputs = [X, *hidden_activations(W, Bs, X)]
    mistakes = [backward(W, Bs, X, Y, mistake=m) for m in GRADIENT_MISTAKES]
    for k, (name, g, want) in enumerate(zip(NAMES, got, want_w + want_b)):
        mine = read_gradient(g, name, want, inputs[k % 3])
        wrong = {m: (gw_m + gb_m)[k] for m, (gw_m, gb_m) in zip(GRADIENT_MISTAKES, mistakes)}
        assert_close(mine, want, f"gradient of {name}", rtol=1e-7, atol=1e-12,
                     hint=gradient_hint(name, mine, want, wrong, inputs[k % 3]))


@pytest.mark.check(points=1, hidden=True)
def test_train_is_per_sample_sgd(student):
    """train() is per-sample SGD in dataset order, step for step"""
    start = read_params(student.value("rinit"), student.describe("rinit"))
    result = student.value("replay")
    want = sgd_replay(*start, XR, YR, REPLAY_EPOCHS, REPLAY_LR)
    snapshots = result["epochs"]
    if len(snapshots) != REPLAY_EPOCHS:
        raise StudentFailure(f"train(..., epochs={REPLAY_EPOCHS}) called on_epoch_end {len(snapshots)} times; "
                             f"expected once per epoch")
    got = [read_params(snap[1:], f"the parameters on_epoch_end received after epoch {k + 1}")
           for k, snap in enumerate(snapshots)] + [read_params(result["result"], "what train() returned")]
    for k, (w, b) in enumerate(got):
        epoch = min(k, REPLAY_EPOCHS - 1)
        for name, mine, ref in zip(NAMES, w + b, want[epoch][0] + want[epoch][1]):
            where = "what train() returned" if k == REPLAY_EPOCHS else f"{name} after epoch {epoch + 1}"
            assert_close(mine, ref, f"train() on {len(XR)} images for {REPLAY_EPOCHS} epochs: {where}", rtol=1e-6,
                         atol=1e-9, hint="train() must start from init_params(rng) and apply one SGD step "
                         "(W -= learning_rate * gradient) per image, in dataset order; minibatches, Adam or "
                         "momentum, shuffling or skipped images all give other parameters")
