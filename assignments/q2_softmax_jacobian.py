# q2_softmax_jacobian.py: your file to edit; replace each `raise NotImplementedError` (made by `make assignments`)
"""Question 2: the Jacobian of the softmax function.

For logits ``z`` of length ``n`` the softmax is ``y_i = exp(z_i) / sum_k exp(z_k)`` and its Jacobian is the ``n x n``
matrix ``J[i, j] = dy_i / dz_j``.

Run ``python q2_softmax_jacobian.py`` to check the Jacobian against central differences and SymPy.
"""

from __future__ import annotations

import argparse

import numpy as np
import sympy as sp

from nnkit.gradcheck import compare, numerical_gradient


def softmax(z):
    """The softmax of a vector of logits, computed without overflow.

    Args:
        z: array-like of shape ``(n,)``, ``n >= 1``, of real logits (ints are converted to float64). Logits of
            magnitude 1000 or more must work.

    Returns:
        float64 array of shape ``(n,)``: ``y_i = exp(z_i) / sum_k exp(z_k)``; the entries are finite, in ``[0, 1]``
        and sum to 1. ``z`` is not modified.

    Raises:
        ValueError: if ``z`` is not one-dimensional or is empty.
    """
    raise NotImplementedError


def softmax_jacobian(z):
    """The Jacobian of the softmax at the logits ``z``.

    Args:
        z: array-like of shape ``(n,)``, ``n >= 1``, of real logits (a list, an int or a float array). Logits of
            magnitude 1000 or more must work.

    Returns:
        float64 array of shape ``(n, n)`` with ``J[i, j] = dy_i / dz_j`` where ``y = softmax(z)``; every entry is
        finite. ``z`` is not modified.

    Raises:
        ValueError: if ``z`` is not one-dimensional or is empty.
    """
    raise NotImplementedError


def symbolic_jacobian(z):
    """The softmax Jacobian as a SymPy matrix, written in terms of the symbols ``z``.

    Do not obtain it by asking SymPy to differentiate the softmax (``Matrix.jacobian``): that is the check it is
    compared against. Write each entry from your derivation.

    Args:
        z: a non-empty list of ``n`` SymPy symbols, the logits ``z_1, ..., z_n``. Build every entry from these
            symbols: symbols you create yourself are not the inputs (the grader names its symbols ``z0, z1, ...``).

    Returns:
        ``sympy.Matrix`` of shape ``(n, n)`` whose entry ``(i, j)`` is an expression in ``z`` equal to
        ``dy_i / dz_j`` for ``y_i = exp(z_i) / sum_k exp(z_k)``.

    Raises:
        ValueError: if ``z`` is empty.
    """
    raise NotImplementedError


def symbolic_softmax(z):
    """The softmax of the SymPy symbols ``z`` as a column ``sympy.Matrix`` of shape ``(n, 1)``."""
    total = sp.Add(*(sp.exp(zk) for zk in z))
    return sp.Matrix([sp.exp(zi) / total for zi in z])


def symbolically_equal(a, b):
    """True if the SymPy matrices ``a`` and ``b`` have the same shape and every entry of ``a - b`` simplifies to 0."""
    a, b = sp.Matrix(a), sp.Matrix(b)
    return a.shape == b.shape and all(sp.simplify(entry) == 0 for entry in a - b)


def numerical_jacobian(func, z, h=1e-5):
    """Central-difference Jacobian of the vector function ``func`` at ``z``, one row per output.

    Args:
        func: callable taking a float64 array of shape ``(n,)`` and returning an array of shape ``(m,)``.
        z: array-like of shape ``(n,)``; copied to float64, never modified.
        h: the finite-difference step.

    Returns:
        float64 array of shape ``(m, n)`` whose row ``i`` is ``nnkit.gradcheck.numerical_gradient`` of ``func(z)[i]``.
    """
    z = np.array(z, dtype=np.float64)
    m = np.asarray(func(z)).shape[0]
    return np.stack([numerical_gradient(lambda i=i: float(func(z)[i]), z, h) for i in range(m)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the softmax Jacobian against central differences and "
                                                 "SymPy (Question 2).")
    parser.add_argument("--z", type=float, nargs="+", default=[1.0, 2.0, 0.5, -1.0],
                        help="the example logits (default: 1 2 0.5 -1)")
    parser.add_argument("--max-n", type=int, default=5, help="check symbolic_jacobian for n = 2..MAX_N (default 5)")
    args = parser.parse_args(argv)

    z = np.array(args.z)
    J = softmax_jacobian(z)
    with np.printoptions(precision=6, suppress=True):
        print(f"z = {z}")
        print(f"softmax(z) = {softmax(z)}")
        print(f"J = softmax_jacobian(z) =\n{J}")
    result = compare(J, numerical_jacobian(softmax, z))
    print(result.describe("J against central differences"))
    print(f"max |J - J^T| = {np.max(np.abs(J - J.T)):.3g}, max |row sum| = {np.max(np.abs(J.sum(axis=1))):.3g}")

    ok = result.max_rel_error < 1e-7
    for n in range(2, args.max_n + 1):
        symbols = list(sp.symbols(f"z1:{n + 1}"))
        same = symbolically_equal(symbolic_jacobian(symbols), symbolic_softmax(symbols).jacobian(symbols))
        print(f"n = {n}: symbolic_jacobian equals SymPy's Jacobian of the softmax: {same}")
        ok = ok and same
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
