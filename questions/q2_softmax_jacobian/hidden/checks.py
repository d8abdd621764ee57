"""Extreme logits, unusual sizes, larger symbolic cases."""

import numpy as np
import pytest

from grader.checking.checklib import as_float64
from grader.running.runner import Call, StudentFailure
from questions.q2_softmax_jacobian.common import (
    JACOBIAN_HINTS,
    OVERFLOW_HINT,
    check_symbolic,
    compare_jacobian,
    jacobian_hint,
    softmax_hint,
    symbolic_points,
)
from questions.q2_softmax_jacobian.hidden.reference import central_jacobian, jacobian_candidates, softmax

rng = np.random.default_rng(20)
BIG = [np.array([1000.0, 999.0, -1000.0]), np.array([-1000.0, -1001.5, -999.0, -1000.0]),
       rng.normal(size=6) * 400]
SIZES = [np.array([0.3]), rng.normal(size=50)]

CALLS = [Call(f"hbig_{i}", "softmax_jacobian", [z]) for i, z in enumerate(BIG)]
CALLS += [Call(f"hbigsoft_{i}", "softmax", [z]) for i, z in enumerate(BIG)]
CALLS += [Call(f"hsize_{i}", "softmax_jacobian", [z]) for i, z in enumerate(SIZES)]
CALLS += [Call(f"hsym_{n}", "symbolic_jacobian", task="sympy", extra={"n": n, "forbid_derivatives": True}) for n in (4, 5)]


def _read(value, what: str, shape: tuple) -> np.ndarray:
    arr = as_float64(value, what)
    if arr.shape != shape:
        got = "a 0-d scalar" if arr.shape == () else f"shape {arr.shape}"
        raise StudentFailure(f"{what}: expected shape {shape}, got {got}")
    return arr


def _jacobian(student, call: str, z: np.ndarray) -> None:
    what = student.describe(call)
    J = _read(student.value(call), what, (z.size, z.size))
    truth = central_jacobian(z)
    compare_jacobian(J, truth, what, jacobian_hint(J, truth, jacobian_candidates(z)), reveal=False)


@pytest.mark.check(points=1, hidden=True)
def test_jacobian_large_logits(student):
    """softmax and its Jacobian stay finite and correct for logits near +-1000"""
    for i, z in enumerate(BIG):
        what = student.describe(f"hbigsoft_{i}")
        y = _read(student.value(f"hbigsoft_{i}"), what, z.shape)
        if not np.all(np.isfinite(y)):
            raise StudentFailure(f"{what}: {int(np.sum(~np.isfinite(y)))} of {y.size} entries are NaN or inf.\n"
                                 f"Hint: {OVERFLOW_HINT}")
        truth = softmax(z)
        hint = softmax_hint(y, truth)
        if not np.allclose(y, truth, rtol=1e-9, atol=1e-14):
            raise StudentFailure(f"{what}: {int(np.sum(~np.isclose(y, truth, rtol=1e-9, atol=1e-14)))} of {y.size} "
                                 f"entries are off.\nHint: {hint}")
        _jacobian(student, f"hbig_{i}", z)


@pytest.mark.check(points=1, hidden=True)
def test_jacobian_unusual_sizes(student):
    """softmax_jacobian works for n = 1 and n = 50"""
    for i, z in enumerate(SIZES):
        _jacobian(student, f"hsize_{i}", z)


@pytest.mark.check(points=1, hidden=True)
@pytest.mark.parametrize("n", (4, 5))
def test_symbolic_jacobian_larger(student, n):
    """symbolic_jacobian is right for n = 4 and 5"""
    points = symbolic_points(n, 10 + n)
    check_symbolic(student.value(f"hsym_{n}"), n, f"symbolic_jacobian(z) for n = {n}", seed=10 + n,
                   candidates=lambda k: {key: jacobian_candidates(np.array(points[k]) / 7)[key]
                                         for key in JACOBIAN_HINTS}, reveal=False)
