"""Extreme logits, unusual sizes, larger symbolic cases."""

import numpy as np
import pytest

from grader.checking.checklib import as_float64, assert_close, require_finite
from grader.running.runner import Call
from questions.q2_softmax_jacobian.common import check_symbolic, jacobian_hint
from questions.q2_softmax_jacobian.hidden.reference import central_jacobian, jacobian_candidates, softmax

rng = np.random.default_rng(20)
BIG = [np.array([1000.0, 999.0, -1000.0]), np.array([-1000.0, -1001.5, -999.0, -1000.0]),
       rng.normal(size=6) * 400]
SIZES = [np.array([0.3]), rng.normal(size=50)]

CALLS = [Call(f"hbig_{i}", "softmax_jacobian", [z]) for i, z in enumerate(BIG)]
CALLS += [Call(f"hbigsoft_{i}", "softmax", [z]) for i, z in enumerate(BIG)]
CALLS += [Call(f"hsize_{i}", "softmax_jacobian", [z]) for i, z in enumerate(SIZES)]
CALLS += [Call(f"hsym_{n}", "symbolic_jacobian", task="sympy", extra={"n": n, "forbid_derivatives": True}) for n in (4, 5)]


@pytest.mark.check(points=1, hidden=True)
def test_jacobian_large_logits(student):
    """softmax and its Jacobian stay finite and correct for logits near +-1000"""
    for i, z in enumerate(BIG):
        what = student.describe(f"hbigsoft_{i}")
        y = as_float64(student.value(f"hbigsoft_{i}"), what, shape=z.shape)
        require_finite(y, what, "subtract max(z) before exponentiating")
        assert_close(y, softmax(z), what, rtol=1e-9, atol=1e-14)
        what = student.describe(f"hbig_{i}")
        J = as_float64(student.value(f"hbig_{i}"), what, shape=(z.size, z.size))
        require_finite(J, what, "subtract max(z) before exponentiating")
        assert_close(J, central_jacobian(z), what, rtol=1e-6, atol=1e-9,
                     hint=jacobian_hint(J, jacobian_candidates(z)))


@pytest.mark.check(points=1, hidden=True)
def test_jacobian_unusual_sizes(student):
    """softmax_jacobian works for n = 1 and n = 50"""
    for i, z in enumerate(SIZES):
        what = student.describe(f"hsize_{i}")
        J = as_float64(student.value(f"hsize_{i}"), what, shape=(z.size, z.size))
        assert_close(J, central_jacobian(z), what, rtol=1e-6, atol=1e-9,
                     hint=jacobian_hint(J, jacobian_candidates(z)))


@pytest.mark.check(points=1, hidden=True)
@pytest.mark.parametrize("n", (4, 5))
def test_symbolic_jacobian_larger(student, n):
    """symbolic_jacobian is right for n = 4 and 5"""
    check_symbolic(student.value(f"hsym_{n}"), n, f"symbolic_jacobian(z) for n = {n}", seed=10 + n)
