"""Trusted side of Q4: the handout's network computed here, to judge what the student's functions return."""

from __future__ import annotations

import numpy as np

from grader.checklib import as_float64
from grader.runner import StudentFailure

STEM = "q4_numpy_backprop"
SIZES = (784, 32, 32, 10)
NAMES = ("W1", "W2", "W3", "b1", "b2", "b3")


def sigmoid(x):
    x = np.clip(x, -500, 500)
    return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


def forward(weights, biases, x: np.ndarray) -> np.ndarray:
    """Probabilities (n, 10) for images (n, 784)."""
    a = x
    for i in range(2):
        a = sigmoid(a @ weights[i] + biases[i])
    z = a @ weights[2] + biases[2]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sample_loss(weights, biases, x: np.ndarray, y: int) -> float:
    return float(-np.log(forward(weights, biases, x[None, :])[0, y]))


def evaluate(weights, biases, x, y, batch: int = 5000) -> tuple[float, int]:
    losses, correct = [], 0
    for s in range(0, len(x), batch):
        p = forward(weights, biases, x[s:s + batch])
        losses.append(-np.log(p[np.arange(len(p)), y[s:s + batch]]))
        correct += int(np.sum(np.argmax(p, axis=1) == y[s:s + batch]))
    return float(np.mean(np.concatenate(losses))), correct


def backward(weights, biases, x, y, sigmoid_derivative: bool = True):
    """Analytic gradients (for hints: with ``sigmoid_derivative=False`` it reproduces a common mistake)."""
    a1 = sigmoid(x @ weights[0] + biases[0])
    a2 = sigmoid(a1 @ weights[1] + biases[1])
    z3 = a2 @ weights[2] + biases[2]
    p = np.exp(z3 - z3.max())
    p /= p.sum()
    d3 = p - np.eye(10)[y]
    d2 = (d3 @ weights[2].T) * (a2 * (1 - a2) if sigmoid_derivative else 1)
    d1 = (d2 @ weights[1].T) * (a1 * (1 - a1) if sigmoid_derivative else 1)
    return [np.outer(x, d1), np.outer(a1, d2), np.outer(a2, d3)], [d1, d2, d3]


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


def gradient_hint(name: str, got: np.ndarray, weights, biases, x, y) -> str:
    idx = NAMES.index(name)
    gw, gb = backward(weights, biases, x, y)
    right = (gw + gb)[idx]
    nw, nb = backward(weights, biases, x, y, sigmoid_derivative=False)
    no_deriv = (nw + nb)[idx]
    if got.shape == right.shape:
        if np.allclose(got, no_deriv, rtol=1e-6, atol=1e-12):
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
