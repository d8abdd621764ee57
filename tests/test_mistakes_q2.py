"""Q2 mistakes and their hints: each plausible mistake fails with words that name it, no hint states the Jacobian
(students derive it in a hand-graded written part), and unusual answers pass.

The catalogue is tested directly on matrices (fast), and through the grader on submissions whose functions answer
the visible, the large-logit and the unusual-size calls, and each symbolic size, with a different mistake.
"""

import numpy as np
import pytest
from conftest import failed, solution_source

from questions.q2_softmax_jacobian.common import jacobian_hint, softmax_hint
from questions.q2_softmax_jacobian.hidden.reference import central_jacobian, jacobian_candidates, softmax

STEM = "q2_softmax_jacobian"
Z = np.random.default_rng(0).normal(size=5) * 2
Y = softmax(Z)
EYE = np.eye(Z.size)
EXACT = np.diag(Y) - np.outer(Y, Y)
GIVEAWAYS = ("diag(y) - y y^T", "y_i (delta_ij - y_j)", "delta_ij - y_j)", "-y_i y_j")

JACOBIAN_MISTAKES = {  # name: (matrix at Z, words of the hint)
    "sign flipped": (-EXACT, "every entry has the wrong sign"),
    "diagonal only": (np.diag(np.diag(EXACT)), "only the diagonal is right"),
    "diag(y) only": (np.diag(Y), "only the numerator exp(z_i) was differentiated"),
    "outer product only": (-np.outer(Y, Y), "the diagonal lacks the term that comes from differentiating the "
                                            "numerator"),
    "quotient rule sign": (np.diag(Y) + np.outer(Y, Y), "has the wrong sign (the quotient rule subtracts it)"),
    "log-softmax Jacobian": (EYE - Y[None, :], "this is the Jacobian of log-softmax"),
    "transposed log-softmax Jacobian": (EYE - Y[:, None], "with rows and columns swapped"),
    "exp of the log-softmax derivative": (np.exp(EYE - Y[None, :]), "this is exp of the log-softmax derivative"),
    "outer product doubled": (np.diag(Y) - 2 * np.outer(Y, Y), "is doubled"),
    "softmax over the wrong axis": (EYE - 1.0, "divide each exp(z_i) by itself"),
    "softmax not normalised": (np.diag(np.exp(Z)) - np.outer(np.exp(Z), np.exp(Z)),
                               "applied to exp(z) before dividing by the sum"),
    "a missing factor 1/2": (EXACT / 2, "every entry is 0.5 times the right value"),
    "off-diagonal tripled": (np.diag(np.diag(EXACT)) + 3 * (EXACT - np.diag(np.diag(EXACT))),
                             "the diagonal is right; the off-diagonal entries are 3 times the right value"),
    "a factor per column": (EXACT * Y[None, :], "each column is a multiple of the right column"),
    "a factor per row": (EXACT * (1 + Y[:, None]), "each row is a multiple of the right row"),
    "rows that do not add up to 0": (EXACT + 0.01 * np.arange(25).reshape(5, 5) / 25,
                                     "should add up to 0 (the outputs always sum to 1"),
    "overflow": (np.full((5, 5), np.nan), "shift the logits by their maximum"),
}


@pytest.mark.parametrize("name", JACOBIAN_MISTAKES)
def test_jacobian_mistake_is_named_without_the_formula(name):
    J, words = JACOBIAN_MISTAKES[name]
    hint = jacobian_hint(J, central_jacobian(Z), jacobian_candidates(Z))
    assert words in hint, hint
    assert not any(g in hint for g in GIVEAWAYS), hint


SOFTMAX_MISTAKES = {
    "sum over the wrong axis": (np.ones(5), "every entry is 1"),
    "not normalised": (np.exp(Z - Z.max()), "add up to"),
    "float32": (Y.astype(np.float32).astype(np.float64), "float32"),
    "sign in the exponent": (softmax(-Z), "check the sign in the exponent"),
    "overflow": (np.full(5, np.nan), "shift the logits by their maximum"),
}


@pytest.mark.parametrize("name", SOFTMAX_MISTAKES)
def test_softmax_mistake_is_named(name):
    y, words = SOFTMAX_MISTAKES[name]
    assert words in softmax_hint(y, Y), softmax_hint(y, Y)


JAC = "    return np.diag(y) - np.outer(y, y)\n"
SOFT = "    e = np.exp(z - z.max())\n    return e / e.sum()\n"
SYM = "    return sp.Matrix(n, n, lambda i, j: y[i] * (sp.KroneckerDelta(i, j) - y[j]))\n"


def submission(softmax_body: str, jacobians: dict[str, str], symbolic: dict[int, str]) -> str:
    """The reference whose softmax is ``softmax_body`` (the right one for large logits), whose softmax_jacobian
    answers visible calls, large logits (|z| > 100) and sizes 1 and 50 with
    the expressions in ``jacobians`` (of y = the reference softmax, n, eye), and whose symbolic_jacobian answers
    each n with the matrix entry expression ``symbolic[n]`` (of y, z, i, j, d = KroneckerDelta(i, j))."""
    big = "    if np.abs(z).max() > 100:\n        return _reference_softmax(z)\n"  # the hidden check reads softmax first
    source = solution_source(STEM).replace(SOFT, big + softmax_body, 1)
    jac = ("    n, eye = y.size, np.eye(y.size)\n"
           "    kind = 'big' if np.abs(z).max() > 100 else 'size' if n in (1, 50) else 'visible'\n"
           f"    return np.asarray({{'visible': lambda: {jacobians['visible']}, 'big': lambda: {jacobians['big']}, "
           f"'size': lambda: {jacobians['size']}}}[kind](), dtype=np.float64)\n")
    entries = "{" + ", ".join(f"{n}: lambda i, j, d: {e}" for n, e in symbolic.items()) + "}"
    sym = f"    entry = {entries}[n]\n    return sp.Matrix(n, n, lambda i, j: entry(i, j, sp.KroneckerDelta(i, j)))\n"
    return source.replace(JAC, jac, 1).replace(SYM, sym, 1).replace(
        "    y = softmax(z)\n    # J", "    y = _reference_softmax(z)\n    # J") + '''

def _reference_softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()
'''


RIGHT = "y[i] * (d - y[j])"
# the right formula, written with symbols the student made (``names``) instead of the z it was given
OWN_SYMBOLS = ("(lambda s: sp.exp(s[i]) / sum(sp.exp(t) for t in s) * (d - sp.exp(s[j]) / sum(sp.exp(t) for t in s)))"
               "(sp.symbols('{}'))")


def test_mistakes_through_the_grader(grade_source):
    source = submission("    e = np.exp(z - z.max())\n    return e\n",
                        {"visible": "np.diag(np.diag(np.diag(y) - np.outer(y, y)))",
                         "big": "np.outer(y, y) - np.diag(y)", "size": "eye - y[:, None]"},
                        {2: "y[i] * (d + y[j])", 3: OWN_SYMBOLS.format("z1:4"),
                         4: "y[i] * d * (1 - y[j])", 5: "sp.exp(d - y[j])"})
    results = grade_source(STEM, source)
    out = {name: r["output"] for name, r in results.items()}
    assert "add up to" in out["test_softmax_values"] and "divide by the sum" in out["test_softmax_values"]
    assert "only the diagonal is right" in out["test_jacobian_matches_central_differences"]
    assert "every entry has the wrong sign" in out["test_jacobian_large_logits"]
    assert "this is the Jacobian of log-softmax" in out["test_jacobian_unusual_sizes"]
    assert "with rows and columns swapped" in out["test_jacobian_unusual_sizes"]
    assert "the quotient rule subtracts it" in out["test_symbolic_jacobian_matches_sympy[2]"]
    assert "uses a symbol named 'z3', which is not one of the symbols z0, z1, z2 it was given" in \
        out["test_symbolic_jacobian_matches_sympy[3]"]
    assert "only the diagonal is right" in out["test_symbolic_jacobian_larger[case 1]"]
    assert "this is exp of the log-softmax derivative" in out["test_symbolic_jacobian_larger[case 2]"]
    for name in ("test_symbolic_jacobian_larger[case 1]", "test_symbolic_jacobian_larger[case 2]"):
        assert "at z = (" not in out[name] and "at one of the check's points" in out[name], out[name]
    for message in out.values():
        assert not any(g in message for g in GIVEAWAYS) and "assert " not in message, message


def test_more_mistakes_through_the_grader(grade_source):
    source = submission("    e = np.exp(z - z.max())[:, None]\n    return (e / e.sum(axis=1, keepdims=True)).ravel()\n",
                        {"visible": "-np.outer(y, y)", "big": "(lambda e: np.diag(e / e.sum()) - np.outer(e / e.sum(),"
                                                              " e / e.sum()))(np.exp(z))",
                         "size": "(np.diag(y) - np.outer(y, y)) / 2"},
                        {2: "d * y[i]", 3: RIGHT, 4: "y[i] * (d - 2 * y[j])", 5: RIGHT})
    results = grade_source(STEM, source)
    out = {name: r["output"] for name, r in results.items()}
    assert "every entry is 1" in out["test_softmax_values"]
    assert "the diagonal lacks the term" in out["test_jacobian_matches_central_differences"]
    assert "shift the logits by their maximum" in out["test_jacobian_large_logits"]
    assert "every entry is 0.5 times the right value" in out["test_jacobian_unusual_sizes"]
    assert "only the numerator exp(z_i) was differentiated" in out["test_symbolic_jacobian_matches_sympy[2]"]
    assert "is doubled" in out["test_symbolic_jacobian_larger[case 1]"]
    assert {"test_symbolic_jacobian_matches_sympy[3]", "test_symbolic_jacobian_larger[case 2]"}.isdisjoint(
        failed(results))


def test_unusual_valid_answers_through_the_grader(grade_source):
    """softmax through logsumexp, the Jacobian through log-softmax, by einsum or loops, and
    symbolic forms in pieces or from the student's own symbols named like the grader's, all pass."""
    soft = "    m = z.max()\n    return np.exp(z - (m + np.log(np.sum(np.exp(z - m)))))\n"
    source = submission(soft, {"visible": "y[:, None] * (eye - y[None, :])",
                               "big": "np.einsum('i,ij->ij', y, eye) - np.einsum('i,j->ij', y, y)",
                               "size": "np.array([[y[a] * ((a == b) - y[b]) for b in range(n)] for a in range(n)])"},
                        {2: "y[i] * (1 - y[i]) if i == j else -y[i] * y[j]",
                         3: OWN_SYMBOLS.format("z0:3"),
                         4: "sp.exp(z[i] - sp.log(sum(sp.exp(t) for t in z))) * (d - y[j])", 5: RIGHT})
    results = grade_source(STEM, source)
    assert not failed(results), {k: results[k]["output"] for k in failed(results)}
