"""OUT is the class's record: grading a subset updates it in place and rebuilds the class outputs from every graded
submission; each question is cached by its own key (the kit's generic code, the question's folder, the student's
file), so a change to one question's checks or one student's file regrades that question only; merged TA scores
and comments are kept in OUT; skipped training checks are "not run", never failed."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import ROOT
from test_new_question import copy_repository

STEMS = ("q1_expressivity", "q2_softmax_jacobian", "q3_fashion_mnist", "q4_numpy_backprop")


def grade(repo: Path, subs: Path, out: Path, *args: str, ok=(0,)) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(repo), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "grader.shipping.grade", "--submissions",
                           str(subs), "--out", str(out), "--skip-training", "-j", "2", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode in ok, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def submission(root: Path, name: str, **modules: Path) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for stem, source in modules.items():
        shutil.copy(source, folder / f"{stem}.py")
    return folder


def gradebook(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        return {row["student_id"]: row for row in csv.DictReader(f)}


def cache(out: Path, sid: str) -> dict[str, str]:
    return json.loads((out / sid / "meta.json").read_text())["cache"]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A copy of the repository and a class of three (Q1 and Q2 only, so grading is quick), graded once."""
    repo = copy_repository(tmp_path_factory.mktemp("repo"))
    base = tmp_path_factory.mktemp("class")
    subs, out = base / "subs", base / "out"
    ref = {stem: repo / "solutions" / f"{stem}.py" for stem in STEMS[:2]}
    submission(subs, "ada", **ref)
    submission(subs, "bo", **ref)
    submission(subs, "cy", q1_expressivity=ref["q1_expressivity"])
    first = grade(repo, subs, out)
    return repo, subs, out, first


def test_regrading_one_student_keeps_every_result(course, tmp_path):
    """Regrading one resubmission into OUT keeps all three rows, and only the changed question runs again."""
    repo, subs, out, first = course
    before = gradebook(out)
    assert set(before) == {"ada", "bo", "cy"}
    ada_results = (out / "ada" / "results.json").read_bytes()
    resubmitted = submission(tmp_path / "late", "bo", q1_expressivity=repo / "assignments" / "q1_expressivity.py",
                             q2_softmax_jacobian=repo / "solutions" / "q2_softmax_jacobian.py")
    proc = grade(repo, resubmitted.parent, out)
    after = gradebook(out)
    assert set(after) == {"ada", "bo", "cy"}, "a regrade of one student lost the others' rows"
    assert after["ada"] == before["ada"] and after["cy"] == before["cy"]
    assert float(after["bo"]["q1_expressivity"]) == 0 < float(before["bo"]["q1_expressivity"])
    assert after["bo"]["q2_softmax_jacobian"] == before["bo"]["q2_softmax_jacobian"]
    assert cache(out, "bo") == {"q1_expressivity": "graded", "q2_softmax_jacobian": "cached",
                                "q3_fashion_mnist": "cached", "q4_numpy_backprop": "cached"}
    assert (out / "ada" / "results.json").read_bytes() == ada_results
    suites = {s.get("name") for s in ET.parse(out / "junit.xml").getroot().iter("testsuite")}
    assert suites == {"ada", "bo", "cy"}
    index = (out / "written" / "index.html").read_text()
    assert all(f"<td>{sid}</td>" in index for sid in ("ada", "bo", "cy"))
    assert "wrote for the 3 submissions" in proc.stdout and "(cached: q2, q3, q4)" in proc.stdout
    # without a terminal, one line per finished question: id, question, score, seconds
    assert any(line.startswith("bo  q1  0  ") and line.endswith(" s") for line in proc.stderr.splitlines())
    assert "bo  q2  cached" in proc.stderr
    # back to the first submission, so the other tests see the class as graded first
    grade(repo, subs, out)


def test_changing_a_q1_check_regrades_q1_only(course):
    """An edit to one question's checks (here a hint's comment) regrades that question for everyone, nothing else."""
    repo, subs, out, _ = course
    checks = repo / "questions" / "q1_expressivity" / "checks.py"
    original = checks.read_text()
    try:
        checks.write_text(original + "\n# a hint reworded\n")
        proc = grade(repo, subs, out)
    finally:
        checks.write_text(original)
    for sid in ("ada", "bo", "cy"):
        assert cache(out, sid) == {"q1_expressivity": "graded", "q2_softmax_jacobian": "cached",
                                   "q3_fashion_mnist": "cached", "q4_numpy_backprop": "cached"}, sid
    assert "ada  q2  cached" in proc.stderr
    grade(repo, subs, out)  # the check as it was: Q1 regraded once more
    assert all(set(cache(out, sid).values()) == {"graded", "cached"} for sid in ("ada", "bo", "cy"))


def test_regrade_forces_one_question(course):
    repo, subs, out, _ = course
    grade(repo, subs, out, "--regrade", "q2")
    assert cache(out, "ada") == {"q1_expressivity": "cached", "q2_softmax_jacobian": "graded",
                                 "q3_fashion_mnist": "cached", "q4_numpy_backprop": "cached"}
    proc = grade(repo, subs, out)  # nothing changed: every question of every student from the cache
    assert all(set(cache(out, sid).values()) == {"cached"} for sid in ("ada", "bo", "cy"))
    assert proc.stdout.count("(cached)") == 3
    proc = grade(repo, subs, out, "--regrade", "q9", ok=(2,))
    assert "--regrade q9: not a question (the questions are q1, q2, q3, q4)" in proc.stderr


def test_manual_scores_and_comments_survive_reruns(course, tmp_path):
    """Scores merged once stay in OUT; a semicolon CSV with decimal commas is read; feedback and gradebook agree."""
    repo, subs, out, _ = course
    sheet = tmp_path / "ta.csv"
    sheet.write_text("student_id;q1a;q1a_comment;q2\nada;1,5;clear, but = a guess;2\nbo;;;1\n", encoding="utf-8")
    grade(repo, subs, out, "--manual-scores", str(sheet))
    assert (out / "written" / "manual-scores.csv").is_file()
    for rerun in (False, True):
        if rerun:
            grade(repo, subs, out)  # no --manual-scores: the stored scores stay
        rows = gradebook(out)
        assert (rows["ada"]["q1a"], rows["ada"]["q2"], rows["bo"]["q2"]) == ("1.5", "2", "1")
        total = float(rows["ada"]["total"]) + 3.5
        assert float(rows["ada"]["total_with_written"]) == total
        assert float(rows["bo"]["total_with_written"]) == float(rows["bo"]["total"]) + 1  # not every answer scored
        feedback = (out / "ada" / "feedback.md").read_text()
        assert f"Course total: {total:g} / {rows['ada']['max_with_written']} points" in feedback
        assert "clear, but = a guess" in feedback
    # a second sheet replaces what it gives and keeps the rest
    again = tmp_path / "ta2.csv"
    again.write_text("student_id,q2\nada,1\n", encoding="utf-8")
    grade(repo, subs, out, "--manual-scores", str(again))
    rows = gradebook(out)
    assert (rows["ada"]["q1a"], rows["ada"]["q2"]) == ("1.5", "1")
    bad = tmp_path / "tabs.csv"
    bad.write_text("student_id\tq1a\nada\t1\n", encoding="utf-8")
    proc = grade(repo, subs, out, "--manual-scores", str(bad), ok=(2,))
    assert "separated by tabs" in proc.stderr
    assert gradebook(out)["ada"]["q2"] == "1"


def test_skipped_training_is_not_run_in_every_output(course):
    repo, subs, out, _ = course
    row = gradebook(out)["ada"]
    assert "not run: q3 1 check" in row["note"] and "q4 1 check" in row["note"] and "\n" not in row["note"]
    root = ET.parse(out / "junit.xml").getroot()
    suite = next(s for s in root.iter("testsuite") if s.get("name") == "ada")
    skipped = [c.get("name") for c in suite.iter("testcase") if c.find("skipped") is not None]
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert len(skipped) == 2 and not set(skipped) & set(failed)
    assert int(suite.get("skipped")) == 2
    feedback = (out / "ada" / "feedback.md").read_text()
    assert "were not run (not counted as failed)" in feedback and "run (1 not run)" in feedback
    results = json.loads((out / "ada" / "results.json").read_text())
    not_run = [t for t in results["tests"] if t.get("extra_data", {}).get("not_run")]
    assert len(not_run) == 2 and all("--skip-training" in t["output"] for t in not_run)


def test_progress_on_a_terminal_names_the_running_submission_and_question():
    from grader.shipping.grade import Outcome, Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    progress = Progress(2, screen)
    progress.running("ada", "q3_fashion_mnist")
    assert "running ada q3" in screen.getvalue()
    progress.running("bo", "q1_expressivity")
    assert "running ada q3, bo q1" in screen.getvalue()
    progress.finished(Outcome("ada", "graded", 1, 2, questions={s: "graded" for s in STEMS},
                              per_question={s: (0.0, 1.0) for s in STEMS}))
    progress.close()
    assert "4/8" in screen.getvalue() and "running bo q1" in screen.getvalue()


@pytest.mark.parametrize("record", ["not json", "[]", '{"keys": {}}', '{"keys": [], "checks": [], "workers": [], '
                                    '"seconds": {}, "digest": ""}', '{"keys": {}, "checks": [1], "workers": [], '
                                    '"seconds": {}, "digest": ""}'])
def test_a_damaged_cache_record_means_a_regrade(tmp_path, record):
    from grader.shipping.grade import _cached_record

    (tmp_path / "record.json").write_text(record)
    (tmp_path / "results.json").write_text("{}")
    (tmp_path / "feedback.html").write_text("")
    assert _cached_record(tmp_path) is None
