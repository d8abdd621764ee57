"""Trusted forward pass and expectations for Q1 (shared by the visible and hidden checks)."""

from __future__ import annotations

import numpy as np

from grader.checking.checklib import as_float64
from grader.running.runner import StudentFailure

STEM = __name__.split(".")[1]  # the folder's name: the module students write


def read_network(value, what: str, max_hidden: int | None = None, exact_hidden: int | None = None) -> dict:
    """Validate a returned step network and return float64 W1, b1, W2 (k,) and b2 (scalar)."""
    __tracebackhide__ = True
    if not isinstance(value, dict):
        raise StudentFailure(f"{what}: expected a dict with keys W1, b1, W2, b2, got {type(value).__name__}")
    missing = [k for k in ("W1", "b1", "W2", "b2") if k not in value]
    if missing:
        raise StudentFailure(f"{what}: the network dict is missing {', '.join(missing)} "
                             f"(it has {', '.join(sorted(value)) or 'no keys'})")
    net = {k: as_float64(value[k], f"{what}[{k!r}]").ravel() for k in ("W1", "b1", "W2")}
    b2 = as_float64(value["b2"], f"{what}['b2']")
    if b2.size != 1:
        raise StudentFailure(f"{what}['b2'] must be one number (the output neuron's bias), got shape {b2.shape}")
    net["b2"] = float(b2.ravel()[0])
    k = net["W1"].size
    if not (net["b1"].size == k == net["W2"].size):
        raise StudentFailure(f"{what}: W1, b1 and W2 must each have one entry per hidden neuron; got sizes "
                             f"{net['W1'].size}, {net['b1'].size}, {net['W2'].size}")
    if exact_hidden is not None and k != exact_hidden:
        raise StudentFailure(f"{what}: expected exactly {exact_hidden} hidden step neurons, got {k}")
    if max_hidden is not None and k > max_hidden:
        raise StudentFailure(f"{what}: the hidden layer has {k} neurons; at most {max_hidden} are allowed "
                             f"(two per box, or one per box edge)")
    for key in ("W1", "b1", "W2"):
        if not np.all(np.isfinite(net[key])):
            raise StudentFailure(f"{what}['{key}'] contains NaN or inf")
    if not np.isfinite(net["b2"]):
        raise StudentFailure(f"{what}['b2'] is not finite")
    return net


def forward(net: dict, x: np.ndarray, step_at_zero: float) -> np.ndarray:
    """y(x) = W2 . step(W1 x + b1) + b2 with step(0) = ``step_at_zero``; computed here, never by student code."""
    s = np.multiply.outer(x, net["W1"]) + net["b1"]
    act = np.where(s > 0, 1.0, np.where(s == 0, step_at_zero, 0.0))
    return act @ net["W2"] + net["b2"]


def box_target(x: np.ndarray, h: float, delta: float) -> np.ndarray:
    return np.where((x > 0) & (x < delta), h, 0.0)


def box_grid(delta: float, seed: int) -> np.ndarray:
    """Dense and random points around the box, keeping clear of the two edges by a relative 1e-6 of delta."""
    rng = np.random.default_rng(seed)
    dense = np.linspace(-1.5 * delta, 2.5 * delta, 4001)
    rand = rng.uniform(-3 * delta, 4 * delta, 2000)
    far = np.array([-1e3, -10.0, 10.0, 1e3]) * max(delta, 1.0)
    x = np.concatenate([dense, rand, far])
    margin = 1e-6 * delta
    keep = (np.abs(x) > margin) & (np.abs(x - delta) > margin)
    return x[keep]


def diagnose_box(net: dict, h: float, delta: float) -> str:
    """A hint naming the likely mistake from where the output goes wrong."""
    inside = forward(net, np.array([delta / 2]), 1.0)[0]
    left = forward(net, np.array([-delta]), 1.0)[0]
    right = forward(net, np.array([2 * delta]), 1.0)[0]
    tol = 1e-9 * max(1.0, abs(h))
    if abs(inside + h) <= tol and abs(left) <= tol and abs(right) <= tol:
        return "the box has the right place but the wrong sign: check the signs in W2 (or of h)"
    if abs(inside - h) <= tol and abs(left) <= tol and abs(right - h) <= tol:
        return "the output never switches off after x = delta: the second neuron should cancel the first there"
    if abs(inside - h) <= tol and abs(left - h) <= tol:
        return "the output is already h for x < 0: check the first neuron's bias (it should switch on at x = 0)"
    if abs(inside) <= tol and abs(right) > tol:
        return "the output turns on too late: the two neurons' thresholds look swapped or shifted"
    if abs(inside) <= tol:
        return ("the output stays 0 inside the box: check that one neuron switches on at x = 0 and the other "
                "at x = delta, with output weights +h and -h")
    return (f"inside the box your network gives {inside:.6g} instead of h = {h:.6g}; a hidden neuron with weight w "
            f"and bias b switches at x = -b/w")


def check_box(value, h: float, delta: float, seed: int, what: str) -> None:
    __tracebackhide__ = True
    net = read_network(value, what, exact_hidden=2)
    x = box_grid(delta, seed)
    target = box_target(x, h, delta)
    tol = 1e-9 * max(1.0, abs(h))
    for conv in (0.0, 1.0):
        y = forward(net, x, conv)
        bad = np.abs(y - target) > tol
        if bad.any():
            i = int(np.argmax(bad))
            raise StudentFailure(
                f"{what}: at x = {x[i]:.6g} the network outputs {y[i]:.6g}, but the box of height h = {h:g} and "
                f"width delta = {delta:g} is {target[i]:g} there ({int(bad.sum())} of {x.size} test points "
                f"wrong).\nHint: {diagnose_box(net, h, delta)}")
    for edge in (0.0, delta):
        for conv in (0.0, 1.0):
            y = forward(net, np.array([edge]), conv)[0]
            if min(abs(y), abs(y - h)) > tol:
                raise StudentFailure(
                    f"{what}: exactly at x = {edge:g} the network outputs {y:.6g} (with step(0) = {conv:g}); "
                    f"at the box's edges either 0 or h = {h:g} is accepted, nothing else")


def approximation_error(net: dict, f, B: float, n_points: int = 20011, seed: int = 0) -> float:
    """Max |net(x) - f(x)| over a fine grid of the open interval and random points, for both step conventions."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([np.linspace(-B, B, n_points)[1:-1] + B * 1e-7 * np.pi, rng.uniform(-B, B, 5000)])
    x = x[np.abs(x) < B]
    fx = f(x)
    return max(float(np.max(np.abs(forward(net, x, conv) - fx))) for conv in (0.0, 1.0))


def lipschitz(f, B: float) -> float:
    x = np.linspace(-B, B, 200001)
    return float(np.max(np.abs(np.diff(f(x)) / np.diff(x))))


def interp_grid(f, B: float):
    xs = np.linspace(-1.5 * B, 1.5 * B, 60001)
    return xs, f(xs)
