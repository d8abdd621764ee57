"""The one gradient check used by the notebooks, the reference tests and the grader.

Central differences in float64, each entry restored after it is perturbed, relative error with a floor in the
denominator, and the worst index reported (the CS231n ``gradient_check`` idea with a real assertion).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of the scalar ``f()`` with respect to ``x``, perturbed in place and restored.

    ``x`` must be a float64 array that ``f`` reads; each entry is put back exactly after its two evaluations.
    """
    if x.dtype != np.float64:
        raise TypeError(f"gradient check needs float64 parameters, got {x.dtype}")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        saved = x[idx]
        x[idx] = saved + h
        plus = f()
        x[idx] = saved - h
        minus = f()
        x[idx] = saved
        grad[idx] = (plus - minus) / (2 * h)
    return grad


@dataclass
class GradientComparison:
    max_rel_error: float
    worst_index: tuple
    analytic: float
    numeric: float

    def describe(self, name: str = "gradient") -> str:
        return (f"{name}: max relative error {self.max_rel_error:.3g} at index {self.worst_index} "
                f"(analytic {self.analytic:.6g}, numerical {self.numeric:.6g})")


def compare(analytic: np.ndarray, numeric: np.ndarray, floor: float = 1e-8) -> GradientComparison:
    """Relative error |a - n| / max(|a| + |n|, floor), elementwise; report the worst entry."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"shape mismatch: analytic {analytic.shape} vs numerical {numeric.shape}")
    rel = np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), floor)
    rel = np.where(np.isfinite(rel), rel, np.inf)
    if rel.size == 0:
        return GradientComparison(0.0, (), 0.0, 0.0)
    worst = np.unravel_index(int(np.argmax(rel)), rel.shape)
    return GradientComparison(float(rel[worst]), tuple(int(i) for i in worst), float(analytic[worst]),
                              float(numeric[worst]))


def assert_gradients_close(analytic: np.ndarray, numeric: np.ndarray, tol: float = 1e-7,
                           name: str = "gradient", hint: str = "") -> GradientComparison:
    """Assert the two gradients agree to relative error ``tol``; the message names the worst entry."""
    __tracebackhide__ = True
    result = compare(analytic, numeric)
    if not result.max_rel_error <= tol:
        ratio = result.analytic / result.numeric if result.numeric else float("nan")
        msg = f"{result.describe(name)}; tolerance {tol:g}; analytic/numerical = {ratio:.3g} there"
        raise AssertionError(msg + (f". {hint}" if hint else ""))
    return result
