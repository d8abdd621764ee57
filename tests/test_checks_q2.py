"""Q2 checks: correct answers (including unusual ones) pass; each plausible mistake fails with a pointed message."""

import pytest
from conftest import ROOT, failed, mutate, solution_source

STEM = "q2_softmax_jacobian"
REF = solution_source(STEM)
JAC = "    return np.diag(y) - np.outer(y, y)\n"
SYM = "    return sp.Matrix(n, n, lambda i, j: y[i] * (sp.KroneckerDelta(i, j) - y[j]))\n"
SOFT = "    e = np.exp(z - z.max())\n"


def test_reference_passes_every_check(grade_source):
    results = grade_source(STEM, REF)
    assert not failed(results), {k: v["output"] for k, v in results.items() if v["status"] != "passed"}


def test_unusual_valid_answers_pass(grade_source):
    source = mutate(REF, JAC, """    n = len(y)
    J = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            J[i, j] = y[i] * ((1.0 if i == j else 0.0) - y[j])
    return J
""")
    source = mutate(source, SYM, """    return sp.Matrix(n, n, lambda i, j: y[i] * (1 - y[i]) if i == j else -y[i] * y[j])
""")
    results = grade_source(STEM, source)
    assert not failed(results), {k: results[k]["output"] for k in failed(results)}


def test_exp_of_log_softmax_derivative_fails_with_hint(grade_source):
    source = mutate(REF, JAC, "    return np.exp(np.eye(len(y)) - y[None, :])\n")
    source = mutate(source, SYM, "    return sp.Matrix(n, n, lambda i, j: sp.exp(sp.KroneckerDelta(i, j) - y[j]))\n")
    results = grade_source(STEM, source)
    out = results["test_jacobian_matches_central_differences"]["output"]
    assert "exp of the log-softmax derivative" in out
    assert {"test_symbolic_jacobian_matches_sympy[2]", "test_symbolic_jacobian_larger[case 2]"} <= failed(results)
    assert "exp of the log-softmax derivative" in results["test_symbolic_jacobian_matches_sympy[2]"]["output"]
    assert "diag(y)" not in out and "y_i (delta_ij - y_j)" not in out
    assert "test_softmax_values" not in failed(results)


def test_unstable_softmax_fails_only_the_large_logit_check(grade_source):
    results = grade_source(STEM, mutate(REF, SOFT, "    e = np.exp(z)\n"))
    assert failed(results) == {"test_jacobian_large_logits"}
    assert "shift the logits by their maximum" in results["test_jacobian_large_logits"]["output"]


def test_modifying_the_input_fails(grade_source):
    source = mutate(REF, "    y = softmax(z)\n    # J", "    z -= 1.0\n    y = softmax(z)\n    # J")
    source = mutate(source, "    z = np.asarray(z, dtype=np.float64)\n    if z.ndim != 1 or z.size == 0:\n"
                            "        raise ValueError(f\"the softmax Jacobian",
                    "    if z.ndim != 1 or z.size == 0:\n        raise ValueError(f\"the softmax Jacobian")
    results = grade_source(STEM, source)
    assert "test_jacobian_leaves_input_unchanged" in failed(results)
    assert "changed its input" in results["test_jacobian_leaves_input_unchanged"]["output"]


@pytest.mark.parametrize("ret, message", [
    ("    return (np.diag(y) - np.outer(y, y)).tolist()\n", "returned a list"),
    ("    return (np.diag(y) - np.outer(y, y)).astype(np.float32)\n", "expected dtype float64"),
])
def test_wrong_type_loses_only_the_type_check(grade_source, ret, message):
    results = grade_source(STEM, mutate(REF, JAC, ret))
    assert failed(results) == {"test_jacobian_shape_and_dtype"}
    assert message in results["test_jacobian_shape_and_dtype"]["output"]


def test_asking_sympy_to_differentiate_is_refused(grade_source):
    source = mutate(REF, SYM, "    return sp.Matrix(y).jacobian(z)\n")
    results = grade_source(STEM, source)
    assert "test_symbolic_jacobian_matches_sympy[2]" in failed(results)
    assert "must write its formula itself" in results["test_symbolic_jacobian_matches_sympy[2]"]["output"]


def test_nan_result_is_reported(grade_source):
    results = grade_source(STEM, mutate(REF, JAC, "    return np.full((len(y), len(y)), np.nan)\n"))
    assert "non-finite" in results["test_jacobian_matches_central_differences"]["output"]


def test_stub_scores_zero(grade_source):
    results = grade_source(STEM, (ROOT / "assignments" / f"{STEM}.py").read_text())
    assert all(r["score"] == 0 for r in results.values())


RESTORE = '''    import inspect
    frame = inspect.currentframe()
    while frame is not None and "derivative" not in frame.f_locals:
        frame = frame.f_back
    sp.Derivative.__new__ = frame.f_locals["derivative"]
    return sp.Matrix(y).jacobian(z)
'''


def test_restoring_the_patched_derivative_is_refused(grade_source):
    results = grade_source(STEM, mutate(REF, SYM, RESTORE))
    assert {"test_symbolic_jacobian_matches_sympy[2]", "test_symbolic_jacobian_larger[case 1]"} <= failed(results)
    assert "must write its formula itself" in results["test_symbolic_jacobian_matches_sympy[2]"]["output"]


def test_removing_the_guard_is_named(grade_source):
    source = mutate(REF, SYM, "    import sys\n    sys.setprofile(None)\n" + RESTORE)
    results = grade_source(STEM, source)
    assert "test_symbolic_jacobian_matches_sympy[2]" in failed(results)
    assert "changed the grader's guard" in results["test_symbolic_jacobian_matches_sympy[2]"]["output"]


def test_hidden_cases_have_opaque_names(grade_source):
    results = grade_source(STEM, REF)
    hidden = sorted(name for name in results if name.startswith("test_symbolic_jacobian_larger"))
    assert hidden == ["test_symbolic_jacobian_larger[case 1]", "test_symbolic_jacobian_larger[case 2]"]
    assert {"test_symbolic_jacobian_matches_sympy[2]", "test_symbolic_jacobian_matches_sympy[3]"} <= set(results)
