"""Visible checks for Q2: softmax, its Jacobian and the symbolic form."""

import numpy as np
import pytest

from grader.checking.checklib import Expected, as_float64, assert_close, is_ndarray, require_finite
from grader.running.runner import Call
from questions.q2_softmax_jacobian.common import JACOBIAN_HINTS, STEM, check_symbolic, jacobian_hint

rng = np.random.default_rng(2)
ZS = [rng.normal(size=n) * 2 for n in (2, 3, 5, 10)]

CALLS = [Call(f"jac_{i}", "softmax_jacobian", [z], return_args=[0]) for i, z in enumerate(ZS)]
CALLS += [Call(f"soft_{i}", "softmax", [z]) for i, z in enumerate(ZS)]
CALLS += [Call(f"sym_{n}", "symbolic_jacobian", task="sympy", extra={"n": n, "forbid_derivatives": True}) for n in (2, 3)]

EXPECTED = Expected(STEM, {
    **{f"softmax_{i}": lambda ref, z=z: ref.softmax(z) for i, z in enumerate(ZS)},
    **{f"central_jacobian_{i}": lambda ref, z=z: ref.central_jacobian(z) for i, z in enumerate(ZS)},
    **{f"candidate_{i}_{key}": lambda ref, z=z, key=key: ref.jacobian_candidates(z)[key]
       for i, z in enumerate(ZS) for key in JACOBIAN_HINTS},
})


def candidates(i: int) -> dict:
    return {key: EXPECTED[f"candidate_{i}_{key}"] for key in JACOBIAN_HINTS}


@pytest.mark.check(points=1)
def test_softmax_values(student):
    """softmax(z) matches the definition and sums to 1"""
    for i, z in enumerate(ZS):
        y = as_float64(student.value(f"soft_{i}"), student.describe(f"soft_{i}"), shape=z.shape)
        assert_close(y, EXPECTED[f"softmax_{i}"], student.describe(f"soft_{i}"), rtol=1e-10, atol=1e-14,
                     hint="y_i = exp(z_i) / sum_j exp(z_j)")


@pytest.mark.check(points=3)
def test_jacobian_matches_central_differences(student):
    """softmax_jacobian agrees with central differences for several sizes"""
    for i, z in enumerate(ZS):
        what = student.describe(f"jac_{i}")
        J = as_float64(student.value(f"jac_{i}"), what, shape=(z.size, z.size))
        require_finite(J, what)
        assert_close(J, EXPECTED[f"central_jacobian_{i}"], what, rtol=1e-6, atol=1e-9,
                     hint=jacobian_hint(J, candidates(i)))


@pytest.mark.check(points=1)
def test_jacobian_leaves_input_unchanged(student):
    """softmax_jacobian does not modify its argument"""
    for i, z in enumerate(ZS):
        after = as_float64(student.args_after(f"jac_{i}")[0], "z after the call")
        assert after.shape == z.shape, (
            f"{student.describe(f'jac_{i}')} changed the shape of its input z from {z.shape} to {after.shape}")
        assert np.array_equal(after, z), (
            f"{student.describe(f'jac_{i}')} changed its input z (first change at index "
            f"{int(np.argmax(after != z))}).\nHint: subtract the max into a new array (z - z.max()), not in place.")


@pytest.mark.check(points=1)
def test_jacobian_shape_and_dtype(student):
    """softmax_jacobian returns a float64 ndarray of shape (n, n)"""
    value = student.value("jac_2")
    n = ZS[2].size
    assert is_ndarray(value), f"{student.describe('jac_2')} returned a {type(value).__name__}, expected an ndarray"
    assert value.shape == (n, n), f"expected shape ({n}, {n}), got {value.shape}"
    assert value.dtype == np.float64, f"expected dtype float64, got {value.dtype}"


@pytest.mark.check(points=1)
@pytest.mark.parametrize("n", (2, 3))
def test_symbolic_jacobian_matches_sympy(student, n):
    """symbolic_jacobian equals SymPy's derivative of the symbolic softmax"""
    check_symbolic(student.value(f"sym_{n}"), n, f"symbolic_jacobian(z) for n = {n}", seed=n)
