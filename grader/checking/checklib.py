"""Trusted helpers the checks share: turning returned data into exact float64 arrays, with messages for students."""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

from grader import registry
from grader.running.runner import StudentFailure

EXPECTED_FILE = "expected.npz"


class Expected:
    """The values one question's visible checks compare against, by name.

    Where the question's instructor-only reference module (``questions/<stem>/hidden/reference.py``, solution code)
    is importable (the repository, the Gradescope bundle), each value is computed from it as
    ``values[name](reference_module)``. The student bundle has no hidden folders; there the values come from
    ``questions/<stem>/expected.npz``, which ``make release`` writes with :meth:`compute_all`: the expected outputs
    ship, the code that computes them does not, as in CS231n's assignments. The checks' inputs are fixed by seeds, so
    both give the same float64 arrays.
    """

    def __init__(self, stem: str, values: dict[str, Callable[[ModuleType], object]]):
        self.stem = stem
        self.reference = f"questions.{stem}.hidden.reference"
        self.values = values
        self._cache: dict[str, np.ndarray] = {}
        self._stored = None

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            if name not in self.values:
                raise KeyError(f"{self.stem}: no expected value named {name!r}")
            ref = self.reference_module()
            self._cache[name] = (np.asarray(self.values[name](ref), dtype=np.float64) if ref is not None
                                 else self._load(name))
        return self._cache[name]

    def reference_module(self) -> ModuleType | None:
        try:
            found = importlib.util.find_spec(self.reference)
        except ModuleNotFoundError:  # no hidden/ package at all (the student bundle)
            found = None
        return importlib.import_module(self.reference) if found is not None else None

    def compute_all(self) -> dict[str, np.ndarray]:
        """Every value, from the reference module (what ``make release`` stores)."""
        if self.reference_module() is None:
            raise RuntimeError(f"{self.reference} is not importable: the expected values can only be computed in the "
                               f"instructor's repository")
        return {name: self[name] for name in self.values}

    def path(self) -> Path:
        return registry.QUESTIONS_DIR / self.stem / EXPECTED_FILE

    def _load(self, name: str) -> np.ndarray:
        if self._stored is None:
            if not self.path().is_file():
                raise RuntimeError(f"neither {self.reference} nor {self.path()} is present: this copy of the checks "
                                   f"is incomplete")
            with np.load(self.path(), allow_pickle=False) as npz:
                self._stored = {key: npz[key] for key in npz.files}
        if name not in self._stored:
            raise RuntimeError(f"{self.path()} has no value {name!r}: it is older than the checks")
        return self._stored[name]


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
           f"expected {e:.8g}, got {a:.8g}{ratio}.")
    if n_bad > 1 and err.ndim:  # shown where the question's hints level is "full"
        worst = np.argsort((err - tol).ravel())[::-1][:5]
        entries = [np.unravel_index(int(k), err.shape) for k in worst if (err - tol).ravel()[k] > 0]
        msg += "\nDetail: the worst entries (index: expected, got): " + "; ".join(
            f"{tuple(int(i) for i in j)}: {float(expected[j]):.6g}, {float(actual[j]):.6g}" for j in entries)
    raise StudentFailure(msg + (f"\nHint: {hint}" if hint else ""))


def run_secret() -> bytes:
    """32 random bytes drawn once per trusted process (one grading run of one submission): the training checks'
    transforms come from it, so no constant in the repository and no earlier run tells what they are."""
    global _RUN_SECRET
    if _RUN_SECRET is None:
        _RUN_SECRET = os.urandom(32)
    return _RUN_SECRET


_RUN_SECRET: bytes | None = None


def secret_rng(purpose: str) -> np.random.Generator:
    """A generator seeded from the run's secret and ``purpose``; different purposes draw unrelated numbers."""
    digest = hashlib.sha256(run_secret() + purpose.encode()).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


PUBLISHED_INPUTS_ENV = "NNKIT_PUBLISHED_INPUTS"


def published_inputs(stem: str) -> bool:
    """Whether the visible checks of ``stem`` use their published inputs: in the student bundle (no ``hidden``
    folder: the expected values shipped there are for those inputs) and while ``make release`` computes those values
    (``NNKIT_PUBLISHED_INPUTS=1``). Everywhere else (grading) the inputs are fresh for the run."""
    if os.environ.get(PUBLISHED_INPUTS_ENV) == "1":
        return True
    try:
        return importlib.util.find_spec(f"questions.{stem}.{registry.HIDDEN}") is None
    except ModuleNotFoundError:
        return True


def input_rng(stem: str, seed: int) -> np.random.Generator:
    """The generator a visible check draws its inputs from: ``default_rng(seed)`` where the inputs are published
    (:func:`published_inputs`), else one seeded from the run's secret, so expected values shipped in the student
    bundle are worth nothing as a lookup table at grading time."""
    if published_inputs(stem):
        return np.random.default_rng(seed)
    return secret_rng(f"visible inputs {stem} {seed}")


@functools.lru_cache(maxsize=4)
def _mixing(secret: bytes, n: int) -> np.ndarray:
    q, r = np.linalg.qr(secret_rng(f"mixing {n}").standard_normal((n, n)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)  # the sign fix makes Q Haar-distributed


def input_mixing(n: int = 784) -> np.ndarray:
    """The run's secret orthogonal matrix Q (n, n), Haar-distributed (QR of a Gaussian matrix with the sign fix)."""
    return _mixing(run_secret(), n)


def mixed(images: np.ndarray, divisor: float = 255.0) -> np.ndarray:
    """Images (n, 28, 28) or (n, 784) as float64 rows (n, 784) ``images / divisor @ Q``, Q the run's mixing.

    Per-sample SGD from an isotropic Gaussian initialisation trains on ``x @ Q`` exactly as on ``x`` in distribution
    (``x Q W`` with ``W`` Gaussian is ``x W'`` with ``W' = Q W`` Gaussian), but no pixel of the mixed rows is a
    pixel of the original, so per-pixel statistics cannot tell how to undo it."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    flat /= divisor
    return flat @ input_mixing(flat.shape[1])


def _sigmoid(a: np.ndarray) -> np.ndarray:
    a = np.clip(a, -500, 500)
    return np.where(a >= 0, 1 / (1 + np.exp(-a)), np.exp(a) / (1 + np.exp(a)))


def _softmax_rows(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


ACTIVATIONS = {"relu": lambda a: np.maximum(a, 0.0), "sigmoid": _sigmoid, "tanh": np.tanh, "softmax": _softmax_rows,
               "linear": lambda a: a}


def dense_outputs(plan: list, x: np.ndarray, divisor: float = 1.0, batch: int = 2000) -> np.ndarray:
    """The grader's own evaluation of returned weights (Q3's Keras model, Q4's trained network), in float64.

    ``plan``: a list of dense layers ``(kernel, bias, activation)`` with activations from ``ACTIVATIONS``; ``x``: rows
    of shape (n, d), divided by ``divisor`` batch by batch. Returns the last layer's outputs, shape (n, k).
    """
    __tracebackhide__ = True
    out = []
    for start in range(0, len(x), batch):
        a = x[start:start + batch].astype(np.float64) / divisor
        for kernel, bias, act in plan:
            if kernel.ndim != 2 or a.shape[1] != kernel.shape[0] or bias.shape != (kernel.shape[1],):
                raise StudentFailure(f"the returned weights do not chain: activations of width {a.shape[1]} meet a "
                                     f"kernel of shape {kernel.shape} and bias {bias.shape}")
            a = ACTIVATIONS[act](a @ kernel + bias)
        out.append(a)
    return np.concatenate(out)


def loss_and_accuracy(probs: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """(average cross-entropy, number of rows whose most probable class is ``y``) for class probabilities (n, k)."""
    losses = -np.log(probs[np.arange(len(probs)), y])
    return float(np.mean(losses)), int(np.sum(np.argmax(probs, axis=1) == y))


def linear_credit(value: float, zero_at: float, full_at: float) -> float:
    """0 at or below ``zero_at``, 1 at or above ``full_at``, linear in between."""
    return float(np.clip((value - zero_at) / (full_at - zero_at), 0.0, 1.0))
