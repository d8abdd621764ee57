"""Trusted side of Q4: reading returned parameters, the checks' fixed inputs, and naming a wrong gradient's mistake.

The reference network (forward, backward, loss) is solution code and lives in the instructor-only
:mod:`questions.q4_numpy_backprop.hidden.reference`.
"""

from __future__ import annotations

import numpy as np

from grader.checking.checklib import as_float64, dense_outputs
from grader.running.runner import StudentFailure

STEM = __name__.split(".")[1]  # the folder's name: the module students write
SIZES = (784, 32, 32, 10)
NAMES = ("W1", "W2", "W3", "b1", "b2", "b3")
ACTIVATIONS = ("sigmoid", "sigmoid", "softmax")
# backward may cost at most this many forward passes of the same image (the cost_ratio task kind measures it). Measured
# on the 784-32-32-10 network: the reference 2.4-3.5; backpropagation with the outer products as Python loops 215-236;
# complex-step differences vectorised over W1 (all its nudges in one batched pass) 4,500-10,000; central differences
# one entry at a time 7,000-115,000.
MAX_BACKWARD_COST = 1000


def probabilities(weights, biases, x: np.ndarray, divisor: float = 1.0) -> np.ndarray:
    """Class probabilities (n, 10) of the network for image rows ``x`` (n, 784) divided by ``divisor``: the trusted
    forward pass, shared by the checks' evaluation of returned weights and the reference values."""
    __tracebackhide__ = True
    return dense_outputs(list(zip(weights, biases, ACTIVATIONS)), x, divisor=divisor)


def check_backward_cost(ratio: float) -> None:
    """Fail when ``backward`` cost more than MAX_BACKWARD_COST forward passes: it is not backpropagation."""
    __tracebackhide__ = True
    if not ratio <= MAX_BACKWARD_COST:
        raise StudentFailure(
            f"backward took as long as {ratio:,.0f} forward passes of the same image (at most {MAX_BACKWARD_COST} "
            f"allowed): this looks like finite or complex-step differences of the forward pass, not "
            f"backpropagation, which costs a few forward passes (each layer's delta from the next one's)")


def read_params(value, what: str, sizes=SIZES) -> tuple[list, list]:
    """(weights, biases) as float64 arrays with the expected shapes, or a StudentFailure."""
    __tracebackhide__ = True
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise StudentFailure(f"{what}: expected a pair (weights, biases), got {type(value).__name__}"
                             + (f" of length {len(value)}" if isinstance(value, (list, tuple)) else ""))
    weights, biases = value
    if not isinstance(weights, list) or len(weights) != 3 or not isinstance(biases, list) or len(biases) != 3:
        raise StudentFailure(f"{what}: weights and biases must be lists of three arrays each")
    w = [as_float64(weights[i], f"{what}: W{i + 1}", shape=(sizes[i], sizes[i + 1])) for i in range(3)]
    b = [as_float64(biases[i], f"{what}: b{i + 1}", shape=(sizes[i + 1],)) for i in range(3)]
    return w, b


def random_params(seed: int, sizes=SIZES):
    rng = np.random.default_rng(seed)
    w = [rng.normal(0, 1 / np.sqrt(max(sizes[i], sizes[i + 1])), (sizes[i], sizes[i + 1])) for i in range(3)]
    b = [rng.normal(0, 0.1, sizes[i + 1]) for i in range(3)]
    return w, b


def random_image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, 784)
    x[rng.uniform(size=784) < 0.6] = 0.0  # like MNIST: most pixels are exactly 0
    return x


def gradient_hint(name: str, got: np.ndarray, right: np.ndarray, without_sigmoid_derivative: np.ndarray) -> str:
    """Name the likely mistake in a wrong gradient ``got`` of ``name``, given the right one and the gradient that
    backpropagation without the sigmoid derivative gives."""
    if got.shape == right.shape:
        if np.allclose(got, without_sigmoid_derivative, rtol=1e-6, atol=1e-12):
            return ("it matches backpropagation without the sigmoid derivative: multiply by a * (1 - a) "
                    "(dsigmoid of the pre-activation) when passing through each hidden layer")
        if np.allclose(got, -right, rtol=1e-6, atol=1e-12):
            return "the sign is flipped: return the gradient of the loss, not the descent direction"
        scale = float(np.vdot(got, right) / max(np.vdot(right, right), 1e-300))
        if abs(scale - 1) > 1e-3 and np.allclose(got, scale * right, rtol=1e-5, atol=1e-12):
            return f"it is the right gradient times {scale:.4g}: look for a stray factor (learning rate? 2?)"
    if got.shape == right.T.shape and got.shape != right.shape:
        return f"it has shape {got.shape}, the transpose of the expected {right.shape}"
    if name.startswith("W"):
        return "dL/dW = outer(input to the layer, delta of the layer); delta at the output is p - onehot(y)"
    return "dL/db equals the layer's delta"
