"""Instructor-only: the Q2 reference computations behind the checks (softmax and its Jacobian are the solution).

Never shipped to students. ``make release`` stores what the visible checks take from here in
``questions/q2_softmax_jacobian/expected.npz`` instead (see :class:`grader.checking.checklib.Expected`); the hidden checks
import it directly.
"""

from __future__ import annotations

import numpy as np


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - np.max(z))
    return e / e.sum()


def central_jacobian(z: np.ndarray, h: float = 1e-6) -> np.ndarray:
    z = np.array(z, dtype=np.float64)
    n = z.size
    J = np.empty((n, n))
    for j in range(n):
        saved = z[j]
        z[j] = saved + h
        plus = softmax(z)
        z[j] = saved - h
        minus = softmax(z)
        z[j] = saved
        J[:, j] = (plus - minus) / (2 * h)
    return J


def jacobian_candidates(z: np.ndarray) -> dict[str, np.ndarray]:
    """What known mistakes make of the Jacobian at ``z``, keyed as in
    :data:`questions.q2_softmax_jacobian.common.JACOBIAN_HINTS`; each (n, n)."""
    z = np.asarray(z, dtype=np.float64)
    y = softmax(z)
    eye = np.eye(z.size)

    def formula(p):
        return np.diag(p) - np.outer(p, p)
    exact = formula(y)
    with np.errstate(over="ignore", invalid="ignore"):
        unnormalised = formula(np.exp(z))
    return {
        "sign_flipped": -exact,
        "log_softmax_derivative": eye - y[None, :],
        "exp_of_log_softmax_derivative": np.exp(eye - y[None, :]),
        "diagonal_only": np.diag(y * (1 - y)),
        "numerator_only": np.diag(y),
        "denominator_only": -np.outer(y, y),
        "plus_denominator": np.diag(y) + np.outer(y, y),
        "doubled_off_diagonal": np.diag(y) - np.outer(y, y) * 2,
        "ones_softmax": formula(np.ones_like(y)),
        "unnormalised": unnormalised,
    }
