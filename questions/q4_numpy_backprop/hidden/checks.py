"""Initialisation for other layer sizes, and gradients at a second point."""

import numpy as np
import pytest

from grader.checking.checklib import as_float64, assert_close
from grader.running.runner import Call, Rng
from questions.q4_numpy_backprop.common import NAMES, random_image, random_params, read_params
from questions.q4_numpy_backprop.hidden.reference import backward

# n_out > n_in in the first layer and n_in > n_out in the second, so 1/n_in, 1/n_out and 1/max all differ somewhere
SIZES = (50, 120, 30, 10)
W, Bs = random_params(9)
X = random_image(9)
X[:] = np.where(X == 0, 0.35, X)  # every pixel non-zero: every W1 row has a gradient
Y = 3

CALLS = [
    Call("hinit", "init_params", [Rng(5)], kwargs={"layer_sizes": list(SIZES)}),
    Call("hbackward", "backward", [W, Bs, X, Y]),
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
    value = student.value("hbackward")
    assert isinstance(value, (list, tuple)) and len(value) == 3, "backward should return (loss, weight_grads, bias_grads)"
    _, gw, gb = value
    want_w, want_b = backward(W, Bs, X, Y)
    got = list(gw) + list(gb)
    for name, g, want in zip(NAMES, got, want_w + want_b):
        assert_close(as_float64(g, f"gradient of {name}"), want, f"gradient of {name}", rtol=1e-7, atol=1e-12)
