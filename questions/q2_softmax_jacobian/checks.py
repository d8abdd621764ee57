"""Visible checks for Q2: softmax, its Jacobian and the symbolic form."""

import numpy as np
import pytest

from grader.checking.checklib import Expected, as_float64, assert_close, input_rng, is_ndarray
from grader.running.runner import Call, StudentFailure
from questions.q2_softmax_jacobian.common import (
    JACOBIAN_HINTS,
    STEM,
    check_symbolic,
    compare_jacobian,
    jacobian_hint,
    softmax_hint,
    symbolic_points,
)

rng = input_rng(STEM, 2)  # published inputs in the student bundle, fresh ones for each grading run
ZS = [rng.normal(size=n) * 2 for n in (2, 3, 5, 10)]
SYMBOLIC = (2, 3)  # n, also the seed of the points

CALLS = [Call(f"jac_{i}", "softmax_jacobian", [z], return_args=[0]) for i, z in enumerate(ZS)]
CALLS += [Call(f"soft_{i}", "softmax", [z]) for i, z in enumerate(ZS)]
CALLS += [Call(f"sym_{n}", "symbolic_jacobian", task="sympy", extra={"n": n, "forbid_derivatives": True})
          for n in SYMBOLIC]

EXPECTED = Expected(STEM, {
    **{f"softmax_{i}": lambda ref, z=z: ref.softmax(z) for i, z in enumerate(ZS)},
    **{f"central_jacobian_{i}": lambda ref, z=z: ref.central_jacobian(z) for i, z in enumerate(ZS)},
    **{f"candidate_{i}_{key}": lambda ref, z=z, key=key: ref.jacobian_candidates(z)[key]
       for i, z in enumerate(ZS) for key in JACOBIAN_HINTS},
    **{f"sym_candidate_{n}_{k}_{key}": lambda ref, p=p, key=key: ref.jacobian_candidates(np.array(p) / 7)[key]
       for n in SYMBOLIC for k, p in enumerate(symbolic_points(n, n)) for key in JACOBIAN_HINTS},
})


def candidates(i: int) -> dict:
    return {key: EXPECTED[f"candidate_{i}_{key}"] for key in JACOBIAN_HINTS}


def _shape(value) -> str:
    shape = np.shape(value)
    return "a 0-d scalar" if shape == () else f"shape {shape}"


@pytest.mark.check(points=1)
def test_softmax_values(student):
    """softmax(z) matches the definition and sums to 1"""
    for i, z in enumerate(ZS):
        what = student.describe(f"soft_{i}")
        y = as_float64(student.value(f"soft_{i}"), what)
        if y.shape != z.shape:
            raise StudentFailure(f"{what}: expected an array of shape {z.shape}, one entry per logit, got "
                                 f"{_shape(y)}")
        truth = EXPECTED[f"softmax_{i}"]
        assert_close(y, truth, what, rtol=1e-10, atol=1e-14, hint=softmax_hint(y, truth))


@pytest.mark.check(points=3)
def test_jacobian_matches_central_differences(student):
    """softmax_jacobian agrees with central differences for several sizes"""
    for i, z in enumerate(ZS):
        what = student.describe(f"jac_{i}")
        J = as_float64(student.value(f"jac_{i}"), what)
        if J.shape != (z.size, z.size):
            raise StudentFailure(f"{what}: expected shape ({z.size}, {z.size}) for {z.size} logits, got {_shape(J)}")
        truth = EXPECTED[f"central_jacobian_{i}"]
        compare_jacobian(J, truth, what, jacobian_hint(J, truth, candidates(i)))


@pytest.mark.check(points=1)
def test_jacobian_leaves_input_unchanged(student):
    """softmax_jacobian does not modify its argument"""
    for i, z in enumerate(ZS):
        what = student.describe(f"jac_{i}")
        after = as_float64(student.args_after(f"jac_{i}")[0], "z after the call")
        if after.shape != z.shape:
            raise StudentFailure(f"{what} changed the shape of its input z from {z.shape} to {after.shape}")
        if not np.array_equal(after, z):
            raise StudentFailure(
                f"{what} changed its input z: entry {int(np.argmax(after != z))} differs after the call.\nHint: "
                f"work on a new array (z - z.max() makes one), not in place (z -= ...)")


@pytest.mark.check(points=1)
def test_jacobian_shape_and_dtype(student):
    """softmax_jacobian returns a float64 ndarray of shape (n, n)"""
    value = student.value("jac_2")
    what = student.describe("jac_2")
    n = ZS[2].size
    if not is_ndarray(value):
        raise StudentFailure(f"{what} returned a {type(value).__name__}, expected a numpy ndarray of shape ({n}, {n})")
    if value.shape != (n, n):
        raise StudentFailure(f"{what}: expected shape ({n}, {n}), got {_shape(value)}")
    if value.dtype != np.float64:
        raise StudentFailure(f"{what}: expected dtype float64, got {value.dtype}")


@pytest.mark.check(points=1)
@pytest.mark.parametrize("n", SYMBOLIC)
def test_symbolic_jacobian_matches_sympy(student, n):
    """symbolic_jacobian equals SymPy's derivative of the symbolic softmax"""
    check_symbolic(student.value(f"sym_{n}"), n, f"symbolic_jacobian(z) for n = {n}", seed=n,
                   candidates=lambda k: {key: EXPECTED[f"sym_candidate_{n}_{k}_{key}"] for key in JACOBIAN_HINTS})
