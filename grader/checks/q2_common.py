"""Trusted side of Q2: naming a wrong Jacobian's mistake, and rebuilding and checking the symbolic Jacobian.

The numeric references (softmax, central differences) are solution code and live in the instructor-only
:mod:`grader.checks.reference_q2`.
"""

from __future__ import annotations

import numpy as np
import sympy

from grader.runner import StudentFailure

STEM = "q2_softmax_jacobian"

# The mistakes a wrong Jacobian is matched against, in order; reference_q2.jacobian_candidates computes each one.
JACOBIAN_HINTS = {
    "exp_of_log_softmax_derivative": "you took exp of the log-softmax derivative; instead dy_i/dz_j = "
                                     "y_i * d(log y_i)/dz_j = y_i (delta_ij - y_j)",
    "transposed": "rows and columns look swapped: J[i, j] must be dy_i/dz_j",
    "diagonal_only": "the off-diagonal entries -y_i y_j are missing",
    "log_softmax_derivative": "this is the derivative of log-softmax; multiply row i by y_i",
    "doubled_off_diagonal": "the off-diagonal term is doubled",
    "sign_flipped": "the sign is flipped",
}


def jacobian_hint(J: np.ndarray, candidates: dict[str, np.ndarray]) -> str:
    """Name the mistake from the first wrong Jacobian in ``candidates`` (keyed as JACOBIAN_HINTS) that ``J`` matches."""
    for key, hint in JACOBIAN_HINTS.items():
        cand = candidates[key]
        if cand.shape == J.shape and np.allclose(J, cand, rtol=1e-6, atol=1e-9):
            return hint
    if not np.all(np.isfinite(J)):
        return "large logits overflow exp(): subtract max(z) before exponentiating"
    return "J[i, j] = y_i (delta_ij - y_j), i.e. diag(y) - y y^T"


ALLOWED = {
    "Add": sympy.Add, "Mul": sympy.Mul, "Pow": sympy.Pow, "exp": sympy.exp, "log": sympy.log,
    "KroneckerDelta": sympy.KroneckerDelta,
}


def rebuild(tree, symbols: dict, depth: int = 0):
    """Rebuild an expression from the worker's nested lists using only whitelisted constructors (no parsing)."""
    __tracebackhide__ = True
    if depth > 200 or not isinstance(tree, list) or not tree or not isinstance(tree[0], str):
        raise StudentFailure("the symbolic Jacobian could not be read back (malformed or too deep expression)")
    head, args = tree[0], tree[1:]
    if head == "Symbol":
        if args[0] not in symbols:
            raise StudentFailure(f"the symbolic Jacobian uses the symbol {args[0]!r}, which is not one of the "
                                 f"inputs z0..z{len(symbols) - 1}; express every entry in terms of z")
        return symbols[args[0]]
    if head == "Integer":
        return sympy.Integer(int(args[0]))
    if head == "Rational":
        return sympy.Rational(int(args[0]), int(args[1]))
    if head == "Float":
        return sympy.Float(float(args[0]))
    if head == "Const":
        return {"E": sympy.E, "pi": sympy.pi}[args[0]]
    if head in ALLOWED:
        built = [rebuild(a, symbols, depth + 1) for a in args]
        return ALLOWED[head](*built)
    raise StudentFailure(f"the symbolic Jacobian uses {head}, which this check does not accept; use exp, log, "
                         f"powers, sums, products and KroneckerDelta")


def check_symbolic(value, n: int, what: str, seed: int) -> None:
    """The student's matrix must equal SymPy's derivative of the symbolic softmax (exact identity testing)."""
    __tracebackhide__ = True
    if not isinstance(value, dict) or value.get("shape") != [n, n]:
        shape = value.get("shape") if isinstance(value, dict) else None
        raise StudentFailure(f"{what}: expected an {n} x {n} sympy.Matrix, got shape {shape}")
    z = sympy.symbols(f"z0:{n}", real=True)
    symbols = {s.name: s for s in z}
    J = sympy.Matrix(n, n, lambda i, j: rebuild(value["entries"][i][j], symbols))
    y = [sympy.exp(zi) / sum(sympy.exp(zk) for zk in z) for zi in z]
    truth = sympy.Matrix(y).jacobian(z)
    rng = np.random.default_rng(seed)
    for _ in range(4):
        point = {zi: sympy.Rational(int(v), 7) for zi, v in zip(z, rng.integers(-20, 21, n))}
        diff = (J - truth).subs(point).evalf(40)
        worst = max(abs(complex(d)) for d in diff)
        if not worst < 1e-25:
            i, j = max(((i, j) for i in range(n) for j in range(n)), key=lambda ij: abs(complex(diff[ij])))
            raise StudentFailure(
                f"{what}: entry [{i}, {j}] is {J[i, j]}, which differs from d y_{i} / d z_{j} "
                f"(at z = {[point[zi] for zi in z]} it is off by {float(abs(complex(diff[i, j]))):.3g}).\n"
                f"Hint: dy_i/dz_j = y_i (delta_ij - y_j); exp(delta_ij - y_j) is not a valid step from the "
                f"log-softmax derivative.")
