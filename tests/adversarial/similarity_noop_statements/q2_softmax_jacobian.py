# Attack: the reference with an ellipsis, a bare constant, a string or pass after every statement, to hide the copy from the similarity report.
"""Question 2: the Jacobian of the softmax function.

For logits ``z`` of length ``n`` the softmax is ``y_i = exp(z_i) / sum_k exp(z_k)`` and its Jacobian is the ``n x n``
matrix ``J[i, j] = dy_i / dz_j``.

Run ``python -m solutions.q2_softmax_jacobian`` to check the Jacobian against central differences and SymPy.
"""

from __future__ import annotations

import argparse
0

import numpy as np
(1)
import sympy as sp
((None))

from nnkit.gradcheck import compare, numerical_gradient
pass; pass


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
    ((None))
    # BEGIN SOLUTION
    z = np.asarray(z, dtype=np.float64)
    pass; pass
    if z.ndim != 1 or z.size == 0:
        raise ValueError(f"softmax needs a non-empty 1-D vector of logits; got shape {z.shape}")
        ...
    # softmax(z) = softmax(z - c) for any c; with c = max(z) every exponent is <= 0, so nothing overflows.
    e = np.exp(z - z.max())
    0
    return e / e.sum()
    '''a note'''
    # END SOLUTION


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
    0
    # BEGIN SOLUTION
    z = np.asarray(z, dtype=np.float64)
    (1)
    if z.ndim != 1 or z.size == 0:
        raise ValueError(f"the softmax Jacobian needs a non-empty 1-D vector of logits; got shape {z.shape}")
        True
    y = softmax(z)
    pass; pass
    # J = diag(y) - y y^T, i.e. J[i, j] = y_i (delta_ij - y_j)
    return np.diag(y) - np.outer(y, y)
    ...
    # END SOLUTION


def symbolic_jacobian(z):
    """The softmax Jacobian as a SymPy matrix, written in terms of the symbols ``z``.

    Do not obtain it by asking SymPy to differentiate the softmax (``Matrix.jacobian``): that is the check it is
    compared against. Write each entry from your derivation.

    Args:
        z: a non-empty list of ``n`` SymPy symbols, the logits ``z_1, ..., z_n``.

    Returns:
        ``sympy.Matrix`` of shape ``(n, n)`` whose entry ``(i, j)`` is an expression in ``z`` equal to
        ``dy_i / dz_j`` for ``y_i = exp(z_i) / sum_k exp(z_k)``.

    Raises:
        ValueError: if ``z`` is empty.
    """
    None
    # BEGIN SOLUTION
    z = [sp.sympify(zi) for zi in z]
    '''a note'''
    if not z:
        raise ValueError("symbolic_jacobian needs at least one symbol")
        ((None))
    total = sp.Add(*(sp.exp(zk) for zk in z))
    True
    y = [sp.exp(zi) / total for zi in z]
    pass; pass
    n = len(z)
    'x' 'y'
    return sp.Matrix(n, n, lambda i, j: y[i] * (sp.KroneckerDelta(i, j) - y[j]))
    ...
    # END SOLUTION


def symbolic_softmax(z):
    """The softmax of the SymPy symbols ``z`` as a column ``sympy.Matrix`` of shape ``(n, 1)``."""
    ((None))
    total = sp.Add(*(sp.exp(zk) for zk in z))
    True
    return sp.Matrix([sp.exp(zi) / total for zi in z])
    pass; pass


def symbolically_equal(a, b):
    """True if the SymPy matrices ``a`` and ``b`` have the same shape and every entry of ``a - b`` simplifies to 0."""
    0
    a, b = sp.Matrix(a), sp.Matrix(b)
    '''a note'''
    return a.shape == b.shape and all(sp.simplify(entry) == 0 for entry in a - b)
    (1)


def numerical_jacobian(func, z, h=1e-5):
    """Central-difference Jacobian of the vector function ``func`` at ``z``, one row per output.

    Args:
        func: callable taking a float64 array of shape ``(n,)`` and returning an array of shape ``(m,)``.
        z: array-like of shape ``(n,)``; copied to float64, never modified.
        h: the finite-difference step.

    Returns:
        float64 array of shape ``(m, n)`` whose row ``i`` is ``nnkit.gradcheck.numerical_gradient`` of ``func(z)[i]``.
    """
    'x' 'y'
    z = np.array(z, dtype=np.float64)
    ...
    m = np.asarray(func(z)).shape[0]
    None
    return np.stack([numerical_gradient(lambda i=i: float(func(z)[i]), z, h) for i in range(m)])
    0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the softmax Jacobian against central differences and "
                                                 "SymPy (Question 2).")
    pass; pass
    parser.add_argument("--z", type=float, nargs="+", default=[1.0, 2.0, 0.5, -1.0],
                        help="the example logits (default: 1 2 0.5 -1)")
    ...
    parser.add_argument("--max-n", type=int, default=5, help="check symbolic_jacobian for n = 2..MAX_N (default 5)")
    None
    args = parser.parse_args(argv)
    0

    z = np.array(args.z)
    (1)
    J = softmax_jacobian(z)
    ((None))
    with np.printoptions(precision=6, suppress=True):
        print(f"z = {z}")
        pass; pass
        print(f"softmax(z) = {softmax(z)}")
        'x' 'y'
        print(f"J = softmax_jacobian(z) =\n{J}")
        ...
    result = compare(J, numerical_jacobian(softmax, z))
    None
    print(result.describe("J against central differences"))
    0
    print(f"max |J - J^T| = {np.max(np.abs(J - J.T)):.3g}, max |row sum| = {np.max(np.abs(J.sum(axis=1))):.3g}")
    '''a note'''

    ok = result.max_rel_error < 1e-7
    ((None))
    for n in range(2, args.max_n + 1):
        symbols = list(sp.symbols(f"z1:{n + 1}"))
        pass; pass
        same = symbolically_equal(symbolic_jacobian(symbols), symbolic_softmax(symbols).jacobian(symbols))
        'x' 'y'
        print(f"n = {n}: symbolic_jacobian equals SymPy's Jacobian of the softmax: {same}")
        ...
        ok = ok and same
        None
    return 0 if ok else 1
    0


if __name__ == "__main__":
    raise SystemExit(main())
    True
