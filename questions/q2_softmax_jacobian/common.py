"""Trusted side of Q2: naming a wrong Jacobian's mistake, and rebuilding and checking the symbolic Jacobian.

The numeric references (softmax, central differences) are solution code and live in the instructor-only
:mod:`questions.q2_softmax_jacobian.hidden.reference`.
"""

from __future__ import annotations

import mpmath
import numpy as np
import sympy

from grader.checking.checklib import assert_close
from grader.running.runner import StudentFailure

STEM = __name__.split(".")[1]  # the folder's name: the module students write

# The mistakes a wrong Jacobian is matched against, in order; hidden/reference.py's jacobian_candidates computes
# each one. No hint states the Jacobian itself: students derive it in a hand-graded written part.
JACOBIAN_HINTS = {
    "sign_flipped": "every entry has the wrong sign",
    "log_softmax_derivative": "this is the Jacobian of log-softmax, d(log y_i)/dz_j, not of softmax: from the "
                              "derivative of log y_i to the derivative of y_i is one more step of the chain rule",
    "exp_of_log_softmax_derivative": "this is exp of the log-softmax derivative: the derivative of y_i = exp(log y_i) "
                                     "is not exp of the derivative of log y_i (use the chain rule instead)",
    "diagonal_only": "only the diagonal is right: the off-diagonal entries are 0, but every y_i depends on every z_j "
                     "through the sum in the denominator",
    "numerator_only": "the matrix is diagonal with y itself on the diagonal: only the numerator exp(z_i) was "
                      "differentiated, and the sum in the denominator was treated as a constant",
    "denominator_only": "the off-diagonal entries are right, but the diagonal lacks the term that comes from "
                        "differentiating the numerator exp(z_i): only the denominator's part is there",
    "plus_denominator": "the part that comes from differentiating the denominator has the wrong sign (the quotient "
                        "rule subtracts it)",
    "doubled_off_diagonal": "the part that comes from differentiating the denominator is doubled (the off-diagonal "
                            "entries are twice the right value)",
    "ones_softmax": "this is what the right formula gives when every y_i is 1: does your softmax divide each exp(z_i) "
                    "by itself instead of by the sum over all entries (a sum over the wrong axis)?",
    "unnormalised": "this is the right formula applied to exp(z) before dividing by the sum: use y = softmax(z)",
}
TRANSPOSED = " (with rows and columns swapped, too: row i holds the derivatives of y_i)"
OVERFLOW_HINT = ("NaN or inf usually come from exp() overflowing (or 0/0) for large logits: softmax(z) = "
                 "softmax(z - c) for any constant c, so shift the logits by their maximum before exponentiating")


def _matches(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.all(np.isfinite(b))) and np.allclose(a, b, rtol=1e-6, atol=1e-9)


def _factor(a: np.ndarray, b: np.ndarray) -> float | None:
    """c with a = c * b (within the matching tolerance), or None."""
    denom = float(np.vdot(b, b))
    if denom == 0:
        return None
    c = float(np.vdot(a, b)) / denom
    return c if _matches(a, c * b) else None


def describe_difference(J: np.ndarray, truth: np.ndarray) -> str:
    """What differs between a wrong Jacobian ``J`` and ``truth`` (both (n, n)), without guessing a cause and without
    quoting an input: a constant factor, the diagonal or the off-diagonal part, a factor per row or per column."""
    n = truth.shape[0]
    c = _factor(J, truth)
    if c is not None:
        return f"every entry is {c:.4g} times the right value: a constant factor is missing or extra"
    off = ~np.eye(n, dtype=bool)
    diag_ok = _matches(np.diag(J), np.diag(truth))
    off_ok = _matches(J[off], truth[off])
    if diag_ok and n > 1:
        c = _factor(J[off], truth[off])
        return ("the diagonal is right; the off-diagonal entries are " +
                ("0" if c == 0 else f"{c:.4g} times the right value" if c is not None else "wrong"))
    if off_ok and n > 1:
        c = _factor(np.diag(J), np.diag(truth))
        return ("the off-diagonal entries are right; the diagonal is " +
                (f"{c:.4g} times the right value" if c is not None else "wrong"))
    for axis, name in ((1, "row"), (0, "column")):
        lines = [(J[i], truth[i]) if axis == 1 else (J[:, i], truth[:, i]) for i in range(n)]
        factors = [_factor(a, b) for a, b in lines]
        if n > 1 and all(f is not None for f in factors):
            return (f"each {name} is a multiple of the right {name}, by a factor that changes from {name} to {name}: "
                    f"a factor that depends on the {name} index is missing or extra")
    sums = np.abs(J.sum(axis=1))
    if np.max(sums) > 1e-6 * max(1.0, float(np.max(np.abs(J)))):
        return ("the entries of each row should add up to 0 (the outputs always sum to 1, whatever z is); yours do "
                "not")
    return ("the rows add up to 0 as they should, but the entries differ; J[i, j] is the derivative of output i "
            "with respect to input j")


def jacobian_hint(J: np.ndarray, truth: np.ndarray, candidates: dict[str, np.ndarray] | None) -> str:
    """Name the mistake a wrong Jacobian ``J`` shows: the first of ``candidates`` (keyed as JACOBIAN_HINTS) or their
    transposes that it equals, else what differs from ``truth``."""
    if not np.all(np.isfinite(J)):
        return OVERFLOW_HINT
    for key, hint in JACOBIAN_HINTS.items():
        cand = (candidates or {}).get(key)
        if cand is None:
            continue
        if _matches(J, cand):
            return hint
        if not np.allclose(cand, cand.T) and _matches(J, cand.T):
            return hint + TRANSPOSED
    return describe_difference(J, truth)


def compare_jacobian(J: np.ndarray, truth: np.ndarray, what: str, hint: str, reveal: bool = True) -> None:
    """Fail unless ``J`` is within rtol 1e-6, atol 1e-9 of ``truth``; with ``reveal`` False (hidden checks) the
    message quotes no entry of ``truth``, only where the worst entry is and the ratio there."""
    __tracebackhide__ = True
    if reveal:
        assert_close(J, truth, what, rtol=1e-6, atol=1e-9, hint=hint)
        return
    if J.shape != truth.shape:
        raise StudentFailure(f"{what}: expected shape {truth.shape}, got {J.shape}")
    err = np.abs(J - truth) - (1e-9 + 1e-6 * np.abs(truth))
    if np.all(err <= 0):
        return
    idx = np.unravel_index(int(np.argmax(np.where(np.isnan(err), np.inf, err))), err.shape)
    ratio = (f", {J[idx] / truth[idx]:.4g} times the right value there" if truth[idx] != 0 and np.isfinite(J[idx])
             else "")
    raise StudentFailure(f"{what}: {int(np.sum(~(err <= 0)))} of {err.size} entries are off (worst at index "
                         f"{tuple(int(i) for i in idx)}{ratio}).\nHint: {hint}")


def softmax_hint(y: np.ndarray, truth: np.ndarray) -> str:
    """Name the mistake a wrong softmax ``y`` shows against ``truth`` (both (n,))."""
    if not np.all(np.isfinite(y)):
        return OVERFLOW_HINT
    if y.size > 1 and np.allclose(y, 1.0, rtol=1e-9, atol=0):
        return ("every entry is 1: each exp(z_i) is divided by itself, not by the sum over all entries (a sum over "
                "the wrong axis?)")
    c = _factor(y, truth)
    if c is not None and abs(c - 1) > 1e-6:
        return (f"the entries are proportional to the right ones but add up to {float(np.sum(y)):.6g}, not 1: divide "
                f"by the sum of all the exponentials")
    if np.allclose(y, truth, rtol=1e-5, atol=0):
        return ("the entries agree with the right ones to about 7 digits only, the precision of float32: compute in "
                "float64")
    if y.size > 1 and int(np.argmax(y)) == int(np.argmin(truth)):
        return "the largest entry is where the logit is the smallest: check the sign in the exponent"
    return "y_i = exp(z_i) / sum_k exp(z_k): every entry is positive and they add up to 1"


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
            if args[0] not in point:
                raise StudentFailure(
                    f"the symbolic Jacobian uses a symbol named {str(args[0])[:40]!r}, which is not one of the "
                    f"symbols {', '.join(sorted(point))} it was given: build every entry from the list z passed to "
                    f"the function (its symbols are named z0, z1, ...), not from symbols of your own")
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


def symbolic_points(n: int, seed: int) -> list[list[int]]:
    """The points the symbolic check evaluates at, as numerators k of z_i = k/7: four points of n entries."""
    rng = np.random.default_rng(seed)
    return [[int(v) for v in rng.integers(-20, 21, n)] for _ in range(4)]


def check_symbolic(value, n: int, what: str, seed: int, candidates=None, reveal: bool = True) -> None:
    """The student's matrix must equal the softmax Jacobian: identity testing at :func:`symbolic_points`, 50 digits.

    ``candidates(k)``, if given, returns the known mistakes' matrices at point k (keyed as JACOBIAN_HINTS), so a wrong
    matrix gets the same hint as in the numeric check; with ``reveal`` False (hidden checks) no point is quoted."""
    __tracebackhide__ = True
    if not isinstance(value, dict) or value.get("shape") != [n, n] or not isinstance(value.get("entries"), list):
        shape = value.get("shape") if isinstance(value, dict) else None
        raise StudentFailure(f"{what}: expected an {n} x {n} sympy.Matrix, got shape {shape}")
    entries = value["entries"]
    # the truth: SymPy's own derivative of the symbolic softmax, evaluated in mpmath
    zs = sympy.symbols(f"z0:{n}", real=True)
    y_sym = [sympy.exp(zi) / sum(sympy.exp(zk) for zk in zs) for zi in zs]
    truth = sympy.lambdify(zs, sympy.Matrix(y_sym).jacobian(zs), "mpmath")
    with mpmath.workdps(50):
        for k, numerators in enumerate(symbolic_points(n, seed)):
            z = [mpmath.mpf(v) / 7 for v in numerators]
            point = {f"z{i}": z[i] for i in range(n)}
            expected = truth(*z)
            got = [[value_at(entries[i][j], point, [20000]) for j in range(n)] for i in range(n)]
            wrong = [(i, j) for i in range(n) for j in range(n)
                     if not abs(got[i][j] - expected[i, j]) < mpmath.mpf(10) ** -25]
            if not wrong:
                continue
            i, j = wrong[0]
            S = np.array([[float(v) for v in row] for row in got])
            T = np.array([[float(expected[a, b]) for b in range(n)] for a in range(n)])
            at = f"at z = ({', '.join(f'{v}/7' for v in numerators)}) " if reveal else "at one of the check's points "
            raise StudentFailure(
                f"{what}: entry [{i}, {j}] is {_describe(entries[i][j])}, which differs from d y_{i} / d z_{j} "
                f"({at}it is off by {float(abs(got[i][j] - expected[i, j])):.3g}; {len(wrong)} of {n * n} entries "
                f"differ there).\nHint: {jacobian_hint(S, T, candidates(k) if candidates else None)}")
