"""Trusted references for Q2: softmax, its Jacobian by central differences, and safe SymPy rebuilding."""

from __future__ import annotations

import numpy as np
import sympy

from grader.runner import StudentFailure

STEM = "q2_softmax_jacobian"


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


def jacobian_hint(J: np.ndarray, z: np.ndarray) -> str:
    y = softmax(z)
    eye = np.eye(z.size)
    exact = np.diag(y) - np.outer(y, y)
    candidates = [
        (np.exp(eye - y[None, :]), "you took exp of the log-softmax derivative; instead dy_i/dz_j = "
                                   "y_i * d(log y_i)/dz_j = y_i (delta_ij - y_j)"),
        (exact.T, "rows and columns look swapped: J[i, j] must be dy_i/dz_j"),
        (np.diag(y * (1 - y)), "the off-diagonal entries -y_i y_j are missing"),
        (eye - y[None, :], "this is the derivative of log-softmax; multiply row i by y_i"),
        (np.diag(y) - np.outer(y, y) * 2, "the off-diagonal term is doubled"),
        (-exact, "the sign is flipped"),
    ]
    for cand, hint in candidates:
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
