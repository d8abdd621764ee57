"""Instructor-only: the Q2 reference computations behind the checks (softmax and its Jacobian are the solution).

Never shipped to students. ``make release`` stores what the visible checks take from here in
``grader/checks/expected/q2_softmax_jacobian.npz`` instead (see :class:`grader.checklib.Expected`); the hidden checks
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
    """Common wrong Jacobians at ``z``, keyed as in :data:`grader.checks.q2_common.JACOBIAN_HINTS`."""
    y = softmax(z)
    eye = np.eye(z.size)
    exact = np.diag(y) - np.outer(y, y)
    return {
        "exp_of_log_softmax_derivative": np.exp(eye - y[None, :]),
        "transposed": exact.T,
        "diagonal_only": np.diag(y * (1 - y)),
        "log_softmax_derivative": eye - y[None, :],
        "doubled_off_diagonal": np.diag(y) - np.outer(y, y) * 2,
        "sign_flipped": -exact,
    }
