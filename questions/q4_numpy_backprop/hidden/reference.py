"""Instructor-only: the Q4 reference network behind the checks (forward and backward passes are the solution).

Never shipped to students. ``make release`` stores what the visible checks take from here in
``questions/q4_numpy_backprop/expected.npz`` instead (see :class:`grader.checking.checklib.Expected`); the hidden checks
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


# What each known mistake does to backpropagation (the hints in common.GRADIENT_MISTAKES name them)
MISTAKES = ("no_sigmoid_derivative", "derivative_of_activation", "delta3_is_p", "untransposed_propagation")


def backward(weights, biases, x, y, mistake: str | None = None):
    """Analytic gradients ``([dW1, dW2, dW3], [db1, db2, db3])`` for one image ``x`` (784,) with label ``y``; with
    ``mistake`` (one of MISTAKES) those that mistake gives, for the hints."""
    if mistake is not None and mistake not in MISTAKES:
        raise ValueError(f"unknown mistake {mistake!r}")
    a1 = sigmoid(x @ weights[0] + biases[0])
    a2 = sigmoid(a1 @ weights[1] + biases[1])
    z3 = a2 @ weights[2] + biases[2]
    p = np.exp(z3 - z3.max())
    p /= p.sum()

    def derivative(a):  # sigmoid'(z) from a = sigmoid(z)
        if mistake == "no_sigmoid_derivative":
            return 1.0
        if mistake == "derivative_of_activation":  # dsigmoid(a): the derivative taken at a, not at z
            return sigmoid(a) * (1 - sigmoid(a))
        return a * (1 - a)
    d3 = p if mistake == "delta3_is_p" else p - np.eye(10)[y]
    d2 = (d3 @ weights[2].T) * derivative(a2)
    d1 = (d2 @ (weights[1] if mistake == "untransposed_propagation" else weights[1].T)) * derivative(a1)
    return [np.outer(x, d1), np.outer(a1, d2), np.outer(a2, d3)], [d1, d2, d3]


def gradient(name: str, weights, biases, x, y, mistake: str | None = None) -> np.ndarray:
    """The analytic gradient of the parameter ``name`` (one of NAMES), or the one ``mistake`` gives."""
    gw, gb = backward(weights, biases, x, y, mistake)
    return (gw + gb)[NAMES.index(name)]


def hidden_activations(weights, biases, x) -> list[np.ndarray]:
    """[a1, a2]: the hidden layers' outputs for one image ``x`` (784,), the inputs of the layers above them."""
    a1 = sigmoid(x @ weights[0] + biases[0])
    return [a1, sigmoid(a1 @ weights[1] + biases[1])]


# What each known mistake in a batch forward pass gives (common.FORWARD_MISTAKES names them)
FORWARD_MISTAKES = ("softmax_over_columns", "softmax_over_batch", "logits", "sigmoid_output", "no_biases")


def forward_with(mistake: str, weights, biases, x: np.ndarray) -> np.ndarray:
    """What ``forward`` returns for images ``x`` (n, 784) with ``mistake`` (one of FORWARD_MISTAKES): shape (n, 10)."""
    if mistake == "no_biases":
        return forward(weights, [np.zeros_like(b) for b in biases], x)
    a = x
    for w, b in zip(weights[:2], biases[:2]):
        a = sigmoid(a @ w + b)
    z = a @ weights[2] + biases[2]
    if mistake == "logits":
        return z
    if mistake == "sigmoid_output":
        return sigmoid(z)
    e = np.exp(z - z.max())
    if mistake == "softmax_over_columns":
        return e / e.sum(axis=0, keepdims=True)
    if mistake == "softmax_over_batch":
        return e / e.sum()
    raise ValueError(f"unknown mistake {mistake!r}")


def evaluate_argmax_loss(weights, biases, x, y) -> float:
    """The average of -log(the largest probability): the loss of each image's predicted class, not its label's."""
    p = forward(weights, biases, x)
    return float(np.mean(-np.log(p.max(axis=1))))


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
