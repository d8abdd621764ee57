"""`make check`: the visible checks on a student's work, with an honest report (hidden checks counted, never run)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter

import nbformat
import pytest
from conftest import ROOT

QUESTIONS = {"q1": "q1_expressivity", "q2": "q2_softmax_jacobian", "q3": "q3_fashion_mnist", "q4": "q4_numpy_backprop"}
SUMMARY = re.compile(r"^Visible checks: (\d+) of (\d+) passed, ([\d.]+) of ([\d.]+) points\.$", re.M)
OVERCLAIMS = re.compile(r"all (visible )?(tests|checks) passed|all passed|full marks!", re.I)


def check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader.shipping.local", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def hidden_counts() -> dict[str, int]:
    """Hidden checks per question as pytest collects them (parametrized cases one by one), in a process of its own."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-c", str(ROOT / "grader/checks/pytest.ini"), "--rootdir",
                           str(ROOT), "--collect-only", str(ROOT / "grader/checks/hidden")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = Counter(line.split("::")[0] for line in proc.stdout.splitlines() if "::" in line)
    return {stem: files[f"grader/checks/hidden/test_{stem}_hidden.py"] for stem in QUESTIONS.values()}


def sections(output: str) -> dict[str, str]:
    """The report's section of each question, by label (Q1..Q4)."""
    parts = re.split(r"^(Q[1-4])  ", output, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


@pytest.fixture(scope="module")
def hidden() -> dict[str, int]:
    counts = hidden_counts()
    assert all(counts.values()), counts
    return counts


@pytest.fixture(scope="module")
def stubs() -> subprocess.CompletedProcess:
    return check("assignments")


@pytest.fixture(scope="module")
def reference() -> subprocess.CompletedProcess:
    return check("solutions")


def test_stubs_score_nothing_and_fail(stubs):
    assert stubs.returncode == 1, stubs.stdout + stubs.stderr
    passed, ran, score, points = SUMMARY.search(stubs.stdout).groups()
    assert (int(passed), float(score)) == (0, 0.0) and int(ran) > 0 and float(points) > 0
    assert "internal grader error" not in stubs.stdout
    # each failure names the check and says why, so a student knows where to start
    assert "FAILED  Q1a: box_network returns a network with exactly two hidden step neurons" in stubs.stdout
    assert "NotImplementedError: this function is still the stub" in stubs.stdout
    assert "array([[" not in stubs.stdout, "numpy printouts of the inputs should be shortened"


def test_every_question_reports_its_hidden_checks_as_not_run(stubs, reference, hidden):
    for proc in (stubs, reference):
        found = sections(proc.stdout)
        assert list(found) == ["Q1", "Q2", "Q3", "Q4"]
        for label, stem in QUESTIONS.items():
            assert f"hidden checks: {hidden[stem]} not run" in found[label.upper()]
        assert f"{sum(hidden.values())} hidden checks were not run" in proc.stdout
        assert not OVERCLAIMS.search(proc.stdout), OVERCLAIMS.search(proc.stdout)


def test_reference_gets_every_visible_point_that_runs(reference):
    assert reference.returncode == 0, reference.stdout + reference.stderr
    passed, ran, score, points = SUMMARY.search(reference.stdout).groups()
    assert passed == ran and score == points and float(points) > 0
    for label, text in sections(reference.stdout).items():
        n, m = re.search(r"checks passed: (\d+) of (\d+)", text).groups()
        assert n == m, f"{label}: {text}"
        assert "FAILED" not in text


def test_training_is_skipped_and_the_report_says_so(stubs):
    assert "training checks skipped; make check FULL=1 runs them" in stubs.stdout.splitlines()[0]
    found = sections(stubs.stdout)
    for label in ("Q3", "Q4"):
        assert re.search(r"not run: 1 training check \(\d+ points\); make check FULL=1 runs it", found[label])
    assert re.search(r"^Training checks not run: 2 \(\d+ points\); make check FULL=1 runs them", stubs.stdout, re.M)


def test_full_includes_training():
    # Q2 has no training check, so this stays fast; what FULL changes is the flag and what the report says
    proc = check("solutions", "--question", "q2", "--full")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "training checks included" in proc.stdout.splitlines()[0]
    assert "FULL=1: training checks included." in proc.stdout
    assert "    not run: " not in proc.stdout


def test_one_question(hidden):
    proc = check("assignments", "--question", "q4")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert list(sections(proc.stdout)) == ["Q4"]
    assert f"hidden checks: {hidden['q4_numpy_backprop']} not run" in proc.stdout
    assert f"{hidden['q4_numpy_backprop']} hidden checks were not run" in proc.stdout


@pytest.mark.parametrize("name", ["q4", "Q4", "4", " q4 ", "q4_numpy_backprop"])
def test_question_names(name):
    from grader.shipping.local import question

    assert question(name) == "q4_numpy_backprop"


def test_one_passing_question_exits_zero():
    proc = check("solutions", "--question", "q1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list(sections(proc.stdout)) == ["Q1"]


@pytest.mark.parametrize("args, message", [
    (["assignments", "--question", "q5"], "unknown question 'q5'"),
    (["no/such/dir"], "no/such/dir does not exist"),
])
def test_usage_errors_exit_2(args, message):
    proc = check(*args)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_a_notebook_only_directory_is_checked(tmp_path):
    """A student who works only in the notebook: its code cells are what the grader runs."""
    source = (ROOT / "solutions" / "q1_expressivity.py").read_text(encoding="utf-8")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Q1"), nbformat.v4.new_code_cell(source),
                                         nbformat.v4.new_code_cell("%matplotlib inline\nbox_network(1.0, 0.5)")])
    nbformat.write(nb, tmp_path / "q1_expressivity.ipynb")
    proc = check(str(tmp_path), "--question", "q1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    q1 = sections(proc.stdout)["Q1"]
    assert q1.startswith("q1_expressivity.ipynb")
    n, m = re.search(r"checks passed: (\d+) of (\d+)", q1).groups()
    assert n == m != "0"


def test_a_missing_question_fails_with_a_reason(tmp_path):
    shutil.copy(ROOT / "solutions" / "q1_expressivity.py", tmp_path)
    proc = check(str(tmp_path), "--question", "q2")
    assert proc.returncode == 1
    assert "q2_softmax_jacobian.py (or q2_softmax_jacobian.ipynb) was not found" in proc.stdout


def test_make_check_passes_its_variables():
    proc = subprocess.run(["make", "-n", "check", "DIR=some/dir", "Q=q3", "FULL=1"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"-m grader\.local some/dir --question q3 --full\s*$", proc.stdout, re.M), proc.stdout
    default = subprocess.run(["make", "-n", "check"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert re.search(r"-m grader\.local assignments\s*$", default.stdout, re.M), default.stdout
