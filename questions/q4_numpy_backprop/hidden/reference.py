"""Instructor-only: the Q4 reference network behind the checks (forward and backward passes are the solution).

Never shipped to students. ``make release`` stores what the visible checks take from here in
``grader/checks/expected/q4_numpy_backprop.npz`` instead (see :class:`grader.checklib.Expected`); the hidden checks
import it directly.
"""

from __future__ import annotations

import numpy as np

from nnkit.gradcheck import numerical_gradient
from questions.q4_numpy_backprop.common import NAMES, probabilities


def sigmoid(x):
    x = np.clip(x, -500, 500)
    return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


def forward(weights, biases, x: np.ndarray) -> np.ndarray:
    """Probabilities (n, 10) for images (n, 784)."""
    return probabilities(weights, biases, x)


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


def gradient(name: str, weights, biases, x, y, sigmoid_derivative: bool = True) -> np.ndarray:
    """The analytic gradient of the parameter ``name`` (one of NAMES)."""
    gw, gb = backward(weights, biases, x, y, sigmoid_derivative)
    return (gw + gb)[NAMES.index(name)]


def central_gradient(name: str, weights, biases, x, y) -> np.ndarray:
    """The gradient of the parameter ``name`` by central differences of the sample loss (nnkit.gradcheck)."""
    params = [p.copy() for p in weights] + [p.copy() for p in biases]
    target = params[NAMES.index(name)]

    def loss_fn():
        return sample_loss(params[:3], params[3:], x, y)
    if name != "W1":
        return numerical_gradient(loss_fn, target)
    # rows for zero pixels have an exactly zero gradient; differentiate the others only
    rows = np.flatnonzero(x)
    sub = target[rows].copy()

    def loss_rows():
        saved = target[rows].copy()
        target[rows] = sub
        out = loss_fn()
        target[rows] = saved
        return out
    numeric = np.zeros_like(target)
    numeric[rows] = numerical_gradient(loss_rows, sub)
    return numeric


def sgd_replay(weights, biases, x, y, epochs: int, learning_rate: float) -> list[tuple[list, list]]:
    """Per-sample SGD in dataset order from copies of ``weights``, ``biases``: the parameters after each epoch."""
    weights, biases = [w.copy() for w in weights], [b.copy() for b in biases]
    after = []
    for _ in range(epochs):
        for xi, yi in zip(x, y):
            gw, gb = backward(weights, biases, xi, int(yi))
            for p, g in zip(weights + biases, gw + gb):
                p -= learning_rate * g
        after.append(([w.copy() for w in weights], [b.copy() for b in biases]))
    return after
