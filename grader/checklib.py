"""Trusted helpers the checks share: turning returned data into exact float64 arrays, with messages for students."""

from __future__ import annotations

import numpy as np

from grader.runner import StudentFailure


def as_float64(value, what: str, shape: tuple | None = None) -> np.ndarray:
    """Convert decoded plain data (array, list, number) to a float64 ndarray, or fail with a clear message."""
    __tracebackhide__ = True
    if isinstance(value, dict):
        raise StudentFailure(f"{what}: expected an array of numbers, got a dict with keys {sorted(value)[:6]}")
    if isinstance(value, str) or value is None:
        raise StudentFailure(f"{what}: expected an array of numbers, got {value!r:.60}")
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StudentFailure(f"{what}: could not be read as an array of numbers ({exc}); "
                             f"is it a ragged list?") from None
    if shape is not None and arr.shape != tuple(shape):
        raise StudentFailure(f"{what}: expected shape {tuple(shape)}, got {arr.shape}")
    return arr


def require_finite(arr: np.ndarray, what: str, hint: str = "") -> None:
    __tracebackhide__ = True
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(arr[idx]) else "inf"
        msg = f"{what} contains {int(bad.sum())} non-finite values (first: {kind} at index {idx})"
        raise StudentFailure(msg + (f". {hint}" if hint else ""))


def is_ndarray(value) -> bool:
    return isinstance(value, np.ndarray)


def assert_close(actual: np.ndarray, expected: np.ndarray, what: str, rtol: float = 1e-7, atol: float = 1e-10,
                 hint: str = "") -> None:
    """Assert elementwise closeness; the message shows the worst entry and the ratio there."""
    __tracebackhide__ = True
    if actual.shape != expected.shape:
        raise StudentFailure(f"{what}: expected shape {expected.shape}, got {actual.shape}")
    require_finite(actual, what, hint)
    err = np.abs(actual - expected)
    tol = atol + rtol * np.abs(expected)
    if np.all(err <= tol):
        return
    idx = np.unravel_index(int(np.argmax(err - tol)), err.shape) if err.ndim else ()
    a, e = float(actual[idx]), float(expected[idx])
    ratio = f"; ratio {a / e:.4g}" if e != 0 else ""
    n_bad = int(np.sum(err > tol))
    msg = (f"{what}: {n_bad} of {err.size} entries are off. Worst at index {tuple(int(i) for i in idx)}: "
           f"expected {e:.8g}, got {a:.8g}{ratio}")
    raise StudentFailure(msg + (f".\nHint: {hint}" if hint else ""))


def pixel_permutation() -> np.ndarray:
    """The training checks' secret pixel order (identity where the instructor-only seed is absent)."""
    try:
        from grader.checks.hidden.secret import PIXEL_PERMUTATION_SEED
    except ImportError:
        return np.arange(784)
    return np.random.default_rng(PIXEL_PERMUTATION_SEED).permutation(784)


def permuted(images: np.ndarray) -> np.ndarray:
    """Images (n, 28, 28) or (n, 784) with their pixels in the checks' order, same shape and dtype."""
    flat = images.reshape(len(images), 784)[:, pixel_permutation()]
    return np.ascontiguousarray(flat.reshape(images.shape))


def linear_credit(value: float, zero_at: float, full_at: float) -> float:
    """0 at or below ``zero_at``, 1 at or above ``full_at``, linear in between."""
    return float(np.clip((value - zero_at) / (full_at - zero_at), 0.0, 1.0))
