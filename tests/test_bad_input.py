"""Bad input: each case gets a clear message, loses only the points it must, and never crashes the batch."""

import csv
import json
import subprocess
import sys

import pytest
from conftest import ROOT, mutate, solution_source

Q1, Q2 = solution_source("q1_expressivity"), solution_source("q2_softmax_jacobian")


def build_batch(root):
    cases = {
        "syntax_error": {"q1_expressivity.py": Q1, "q2_softmax_jacobian.py": mutate(
            Q2, "    return np.diag(y) - np.outer(y, y)\n", "    return np.diag(y) - np.outer(y y)\n")},
        "missing_function": {"q1_expressivity.py": mutate(Q1, "def box_network(h, delta):", "def box(h, delta):"),
                             "q2_softmax_jacobian.py": Q2},
        "wrong_signature": {"q1_expressivity.py": mutate(Q1, "def box_network(h, delta):", "def box_network(h):"),
                            "q2_softmax_jacobian.py": Q2},
        "wrong_shape": {"q1_expressivity.py": Q1, "q2_softmax_jacobian.py": mutate(
            Q2, "    return np.diag(y) - np.outer(y, y)\n", "    return (np.diag(y) - np.outer(y, y))[:-1]\n")},
        "nan_result": {"q1_expressivity.py": Q1, "q2_softmax_jacobian.py": mutate(
            Q2, "    return np.diag(y) - np.outer(y, y)\n", "    return np.diag(y) * np.nan\n")},
        "not_utf8": {"q1_expressivity.py": Q1, "q2_softmax_jacobian.py": b"# caf\xe9\n" + Q2.encode()},
        "bad_notebook": {"q1_expressivity.py": Q1, "q2_softmax_jacobian.ipynb": '{"cells": [{"cell_type": "code",'},
        "empty": {},
        "huge_file": {"q1_expressivity.py": Q1, "q2_softmax_jacobian.py": None},
    }
    for name, files in cases.items():
        d = root / name
        d.mkdir(parents=True)
        for fname, content in files.items():
            p = d / fname
            if content is None:
                with open(p, "wb") as f:  # sparse: 3 GB on paper, nothing on disk
                    f.truncate(3 << 30)
            elif isinstance(content, bytes):
                p.write_bytes(content)
            else:
                p.write_text(content, encoding="utf-8")
    return cases


def q_score(results, stem):
    return sum(t["score"] for t in results["tests"] if t["tags"][0] == stem)


def q_outputs(results, stem):
    return "\n".join(t["output"] for t in results["tests"] if t["tags"][0] == stem)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    build_batch(root / "subs")
    out = root / "out"
    proc = subprocess.run([sys.executable, "-m", "grader.shipping.grade", "--submissions", str(root / "subs"), "--out", str(out),
                           "-j", "2", "--skip-training"], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {d.name: json.loads((d / "results.json").read_text()) for d in out.iterdir()
            if (d / "results.json").is_file()}, out



def test_every_submission_has_results(graded):
    results, out = graded
    assert set(results) == {"syntax_error", "missing_function", "wrong_signature", "wrong_shape", "nan_result",
                            "not_utf8", "bad_notebook", "empty", "huge_file"}
    with open(out / "gradebook.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["student_id"] for r in rows) == sorted(results)


@pytest.mark.parametrize("name, stem, message", [
    ("syntax_error", "q2_softmax_jacobian", "line 63"),
    ("missing_function", "q1_expressivity", "has no function box_network()"),
    ("wrong_signature", "q1_expressivity", "TypeError: box_network() takes 1 positional argument but 2 were given"),
    ("wrong_shape", "q2_softmax_jacobian", "expected shape"),
    ("nan_result", "q2_softmax_jacobian", "non-finite"),
    ("not_utf8", "q2_softmax_jacobian", "UTF-8"),
    ("bad_notebook", "q2_softmax_jacobian", "JSON"),
    ("huge_file", "q2_softmax_jacobian", "limit"),
])
def test_message_points_at_the_problem_and_other_question_is_unharmed(graded, name, stem, message):
    results, _ = graded
    r = results[name]
    assert message in q_outputs(r, stem), q_outputs(r, stem)[:2000]
    other = "q2_softmax_jacobian" if stem == "q1_expressivity" else "q1_expressivity"
    other_max = sum(t["max_score"] for t in r["tests"] if t["tags"][0] == other)
    assert q_score(r, other) == pytest.approx(other_max), f"{name}: {other} should keep full marks"


def test_partial_loss_only(graded):
    results, _ = graded
    # a wrong-shaped Jacobian still earns softmax's point and the symbolic points
    assert 0 < q_score(results["wrong_shape"], "q2_softmax_jacobian") < 10
    assert results["missing_function"]["tests"][4]["status"] == "passed", "Q1b does not need box_network"


def test_empty_submission_scores_zero_with_a_note(graded):
    results, out = graded
    assert results["empty"]["score"] == 0
    assert "no question files" in (out / "empty" / "feedback.md").read_text()
