"""Trusted side of Q2: naming a wrong Jacobian's mistake, and rebuilding and checking the symbolic Jacobian.

The numeric references (softmax, central differences) are solution code and live in the instructor-only
:mod:`questions.q2_softmax_jacobian.hidden.reference`.
"""

from __future__ import annotations

import mpmath
import numpy as np
import sympy

from grader.running.runner import StudentFailure

STEM = __name__.split(".")[1]  # the folder's name: the module students write

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
        return ALLOWED[head](*built, evaluate=False)
    raise StudentFailure(f"the symbolic Jacobian uses {head}, which this check does not accept; use exp, log, "
                         f"powers, sums, products and KroneckerDelta")


_NUM = {"Add": lambda *a: mpmath.fsum(a), "Mul": lambda *a: mpmath.fprod(a), "Pow": mpmath.power,
        "exp": mpmath.exp, "log": mpmath.log, "KroneckerDelta": lambda i, j: mpmath.mpf(i == j)}
_ARITY = {"Add": (1, 10 ** 6), "Mul": (1, 10 ** 6), "Pow": (2, 2), "exp": (1, 1), "log": (1, 2),
          "KroneckerDelta": (2, 2)}


def value_at(tree, point: dict, budget: list):
    """Evaluate a returned expression tree numerically in mpmath, with a node budget and a magnitude cap.

    Never builds the exact SymPy value, so a tower like 9**(9**9) costs microseconds, not hours.
    """
    __tracebackhide__ = True
    budget[0] -= 1
    try:
        if budget[0] < 0 or not isinstance(tree, list) or not tree:
            raise ValueError("expression too large or malformed")
        head, args = tree[0], tree[1:]
        if head == "Symbol":
            v = point[args[0]]
        elif head == "Integer":
            v = mpmath.mpf(int(args[0]))
        elif head == "Rational":
            v = mpmath.mpf(int(args[0])) / int(args[1])
        elif head == "Float":
            v = mpmath.mpf(args[0])
        elif head == "Const":
            v = {"E": mpmath.e, "pi": mpmath.pi}[args[0]]
        else:
            lo, hi = _ARITY[head]
            if not lo <= len(args) <= hi:
                raise ValueError(f"{head} with {len(args)} arguments")
            v = _NUM[head](*(value_at(a, point, budget) for a in args))
        if isinstance(v, mpmath.mpc) or mpmath.mag(v) > 4096:
            raise OverflowError("value out of range")
        return v
    except KeyError as exc:
        raise StudentFailure(f"the symbolic Jacobian uses {exc}, which this check does not accept; use exp, log, "
                             f"powers, sums, products and KroneckerDelta of the symbols z") from None
    except (IndexError, TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
        raise StudentFailure(f"the symbolic Jacobian could not be evaluated ({type(exc).__name__}: {exc}); use exp, "
                             f"log, powers, sums, products and KroneckerDelta of the symbols z") from None


def _describe(tree, limit: int = 200) -> str:
    try:
        text = str(rebuild(tree, _AnySymbol()))
    except (AssertionError, TypeError, ValueError, RecursionError):
        text = repr(tree)
    return text if len(text) <= limit else text[:limit] + "..."


class _AnySymbol(dict):
    def __contains__(self, name):
        return True

    def __missing__(self, name):
        return sympy.Symbol(name)


def check_symbolic(value, n: int, what: str, seed: int) -> None:
    """The student's matrix must equal the softmax Jacobian: identity testing at random points, 50 digits."""
    __tracebackhide__ = True
    if not isinstance(value, dict) or value.get("shape") != [n, n] or not isinstance(value.get("entries"), list):
        shape = value.get("shape") if isinstance(value, dict) else None
        raise StudentFailure(f"{what}: expected an {n} x {n} sympy.Matrix, got shape {shape}")
    entries = value["entries"]
    # the truth: SymPy's own derivative of the symbolic softmax, evaluated in mpmath
    zs = sympy.symbols(f"z0:{n}", real=True)
    y_sym = [sympy.exp(zi) / sum(sympy.exp(zk) for zk in zs) for zi in zs]
    truth = sympy.lambdify(zs, sympy.Matrix(y_sym).jacobian(zs), "mpmath")
    rng = np.random.default_rng(seed)
    with mpmath.workdps(50):
        for _ in range(4):
            z = [mpmath.mpf(int(v)) / 7 for v in rng.integers(-20, 21, n)]
            point = {f"z{k}": z[k] for k in range(n)}
            expected = truth(*z)
            for i in range(n):
                for j in range(n):
                    got = value_at(entries[i][j], point, [20000])
                    want = expected[i, j]
                    if not abs(got - want) < mpmath.mpf(10) ** -25:
                        raise StudentFailure(
                            f"{what}: entry [{i}, {j}] is {_describe(entries[i][j])}, which differs from "
                            f"d y_{i} / d z_{j} (at z = {[f'{int(v * 7)}/7' for v in z]} it is off by "
                            f"{float(abs(got - want)):.3g}).\n"
                            f"Hint: dy_i/dz_j = y_i (delta_ij - y_j); exp(delta_ij - y_j) is not a valid step from "
                            f"the log-softmax derivative.")
