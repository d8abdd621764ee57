"""The reference solution of Question 2 (the softmax Jacobian) meets its own specification."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from nnkit.gradcheck import assert_gradients_close, compare
from nnkit.stubgen import strip_solutions
from solutions import q2_softmax_jacobian as q2

SOURCE = Path(q2.__file__)
SEEDS = range(10)
SIZES = [1, 2, 3, 5, 8, 12]


def symbols(n):
    return list(sp.symbols(f"z1:{n + 1}"))


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_is_a_distribution(seed):
    """softmax returns float64 (n,) probabilities that sum to 1 and match the textbook formula for small logits."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=int(rng.integers(1, 12)))
    y = q2.softmax(z)
    assert y.dtype == np.float64 and y.shape == z.shape
    assert y.sum() == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(y, np.exp(z) / np.exp(z).sum(), rtol=1e-14)


@pytest.mark.parametrize("z", [[1000.0, 999.0, -1000.0], [-1000.0, -1001.0, -999.5], [1e4, -1e4], [710.0, 0.0]])
def test_softmax_is_stable_for_huge_logits(z):
    """softmax of logits of magnitude 1000 and more is finite and sums to 1."""
    y = q2.softmax(z)
    assert np.all(np.isfinite(y)), f"softmax({z}) = {y}: subtract max(z) before exponentiating"
    assert y.sum() == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(y, q2.softmax(np.asarray(z) - np.max(z)), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", SIZES)
def test_softmax_jacobian_matches_central_differences(seed, n):
    """Every entry of the Jacobian agrees with central differences (relative error < 1e-7)."""
    z = np.random.default_rng(seed).normal(size=n)
    J = q2.softmax_jacobian(z)
    # measured over 200 seeds with standard-normal logits and n <= 12: worst relative error 2.9e-9
    assert_gradients_close(J, q2.numerical_jacobian(q2.softmax, z), tol=1e-7, name=f"softmax Jacobian (n = {n})",
                           hint="J[i, j] is dy_i/dz_j: row i is the gradient of y_i")


@pytest.mark.parametrize("shift", [1000.0, -1000.0, 1e5])
@pytest.mark.parametrize("seed", SEEDS[:3])
def test_softmax_jacobian_finite_for_huge_logits(seed, shift):
    """Logits around +-1000 give a finite Jacobian equal to that of the shifted logits (softmax ignores shifts)."""
    base = np.random.default_rng(seed).normal(scale=3.0, size=6)
    J = q2.softmax_jacobian(base + shift)
    assert np.all(np.isfinite(J)), f"softmax_jacobian(z + {shift}) has non-finite entries:\n{J}"
    np.testing.assert_allclose(J, q2.softmax_jacobian(base), rtol=0, atol=1e-10 * max(1.0, abs(shift) / 1000),
                               err_msg="the Jacobian must not change when every logit is shifted by the same amount")


def test_softmax_jacobian_for_mixed_extreme_logits():
    """Logits far apart (1000 and -1000) give exact zeros for the vanishing outputs, no NaN."""
    J = q2.softmax_jacobian([1000.0, -1000.0, 999.0, 0.0])
    assert np.all(np.isfinite(J))
    np.testing.assert_array_equal(J[1], 0.0)
    np.testing.assert_array_equal(J[:, 3], 0.0)
    assert J[0, 0] == pytest.approx(J[2, 2]) and J[0, 2] == pytest.approx(-J[0, 0])


def test_softmax_jacobian_does_not_modify_its_input():
    """softmax_jacobian leaves z unchanged, and the result does not share memory with z."""
    z = np.random.default_rng(1).normal(size=5) + 1000.0
    before = z.copy()
    J = q2.softmax_jacobian(z)
    np.testing.assert_array_equal(z, before, err_msg="softmax_jacobian modified its input z")
    assert not np.shares_memory(J, z)


@pytest.mark.parametrize("z", [[1, 2, 3], np.array([1, 2, 3]), np.array([0.5, -1.0], dtype=np.float32), (4.0,)])
def test_softmax_jacobian_shape_and_dtype(z):
    """Lists, tuples, int and float32 arrays give a float64 (n, n) Jacobian."""
    J = q2.softmax_jacobian(z)
    n = len(z)
    assert isinstance(J, np.ndarray) and J.dtype == np.float64 and J.shape == (n, n), (
        f"expected a float64 array of shape ({n}, {n}); got {type(J).__name__} {getattr(J, 'dtype', '')} "
        f"{np.shape(J)}")
    np.testing.assert_allclose(J, q2.softmax_jacobian(np.asarray(z, dtype=np.float64)), rtol=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_jacobian_is_symmetric_with_zero_row_sums(seed):
    """J is symmetric, its rows and columns sum to 0 and its diagonal is y(1 - y)."""
    z = np.random.default_rng(seed).normal(scale=2.0, size=7)
    J, y = q2.softmax_jacobian(z), q2.softmax(z)
    np.testing.assert_allclose(J, J.T, rtol=0, atol=1e-17)
    np.testing.assert_allclose(J.sum(axis=1), 0.0, atol=1e-15, err_msg="rows must sum to 0 (shift invariance)")
    np.testing.assert_allclose(J.sum(axis=0), 0.0, atol=1e-15, err_msg="columns must sum to 0 (sum of y is 1)")
    np.testing.assert_allclose(np.diag(J), y * (1 - y), rtol=1e-14)


@pytest.mark.parametrize("z", [np.zeros((2, 2)), np.float64(1.0), np.zeros(0)])
def test_softmax_jacobian_rejects_non_vectors(z):
    """A 0-d, 2-D or empty input is a ValueError that names the shape."""
    with pytest.raises(ValueError, match="shape"):
        q2.softmax_jacobian(z)
    with pytest.raises(ValueError, match="shape"):
        q2.softmax(z)


def wrong_exp_jacobian(z):
    """The invalid step in the handout: exponentiating the log-softmax derivative, exp(delta_ij - y_j)."""
    y = q2.softmax(z)
    return np.exp(np.eye(len(y)) - y[np.newaxis, :])


@pytest.mark.parametrize("wrong", [wrong_exp_jacobian, lambda z: np.diag(q2.softmax(z))])
def test_central_difference_check_rejects_wrong_jacobians(wrong):
    """The same comparison fails for wrong formulas (exp(delta_ij - y_j), or diag(y) alone)."""
    z = np.random.default_rng(3).normal(size=4)
    result = compare(wrong(z), q2.numerical_jacobian(q2.softmax, z))
    assert result.max_rel_error > 1e-2, f"a wrong Jacobian passed the check: {result.describe()}"


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_symbolic_jacobian_matches_sympy(n):
    """symbolic_jacobian equals SymPy's Jacobian of the softmax after simplification."""
    z = symbols(n)
    J = q2.symbolic_jacobian(z)
    assert isinstance(J, sp.MatrixBase) and J.shape == (n, n), f"expected an {n} x {n} sympy.Matrix; got {J!r}"
    assert J.free_symbols <= set(z), f"entries may only use the symbols {z}; found {J.free_symbols}"
    reference = q2.symbolic_softmax(z).jacobian(z)
    assert q2.symbolically_equal(J, reference), f"n = {n}: J - reference does not simplify to 0:\n{J - reference}"


def test_symbolic_jacobian_does_not_ask_sympy_to_differentiate(monkeypatch):
    """symbolic_jacobian writes the entries itself rather than calling Matrix.jacobian or diff."""
    def forbidden(*args, **kwargs):
        raise AssertionError("symbolic_jacobian must not differentiate with SymPy")
    monkeypatch.setattr(sp.MatrixBase, "jacobian", forbidden)
    monkeypatch.setattr(sp.Expr, "diff", forbidden)
    monkeypatch.setattr(sp, "diff", forbidden)
    assert q2.symbolic_jacobian(symbols(3)).shape == (3, 3)


def test_symbolic_comparison_rejects_the_exponentiated_formula():
    """The symbolic comparison can fail: exp(delta_ij - y_j) is not the Jacobian."""
    z = symbols(3)
    y = list(q2.symbolic_softmax(z))
    wrong = sp.Matrix(3, 3, lambda i, j: sp.exp(sp.KroneckerDelta(i, j) - y[j]))
    assert not q2.symbolically_equal(wrong, q2.symbolic_softmax(z).jacobian(z))
    assert not q2.symbolically_equal(sp.zeros(2, 2), q2.symbolic_softmax(z).jacobian(z)), "shapes must be compared"


def test_main_reports_success(capsys):
    """python -m solutions.q2_softmax_jacobian prints the Jacobian, the gradient check and the SymPy checks."""
    assert q2.main(["--max-n", "3"]) == 0
    out = capsys.readouterr().out
    assert "against central differences" in out and out.count(": True") == 2, out


def test_stub_imports_and_hides_the_solution():
    """The generated stub imports and raises NotImplementedError in every student function."""
    stub = strip_solutions(SOURCE.read_text(encoding="utf-8"), "solutions/q2_softmax_jacobian.py")
    assert "SOLUTION" not in stub and "KroneckerDelta" not in stub and "np.outer" not in stub
    module = types.ModuleType("q2_stub")
    exec(compile(stub, "assignments/q2_softmax_jacobian.py", "exec"), module.__dict__)
    for name, arg in (("softmax", [1.0, 2.0]), ("softmax_jacobian", [1.0, 2.0]), ("symbolic_jacobian", symbols(2))):
        with pytest.raises(NotImplementedError):
            getattr(module, name)(arg)
        assert getattr(module, name).__doc__ == getattr(q2, name).__doc__, f"the docstring of {name} changed"
