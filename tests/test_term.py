"""The instructor's whole term in one scenario, on a copy of the repository: a class of twenty handed in through
Gradescope's "Export Submissions" is graded once (two students hand in all four questions and really train, under a
small training budget), then one student resubmits, a Q1 check changes, the TAs score written answers in the
browser page, a late policy is applied and the grades are exported for Canvas. Nothing may be lost on the way, and
no Q3 or Q4 training may run again except for the questions the resubmitting student changed.

Whether a question ran again is read from two records: ``meta.json``'s ``cache`` (each question "graded" or
"cached" by the latest run) and the workers kept in ``record.json`` (a cached question keeps the very worker
records, wall and CPU time included, of the run that graded it)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, mutate
from test_new_question import copy_repository
from test_ta_browser import CHROMIUM, DevTools, enter_score, wait_for_file

from grader.reporting import written

pytestmark = pytest.mark.slow

STEMS = ("q1_expressivity", "q2_softmax_jacobian", "q3_fashion_mnist", "q4_numpy_backprop")
Q1, Q2, Q3, Q4 = STEMS
TRAINING = (Q3, Q4)
CLASS = [f"S{n:02d}" for n in range(1, 21)]
TRAINED = ("S19", "S20")  # hand in all four questions
RESUBMITS = "S20"  # resubmits a wrong Q1 and a retouched Q4
WITH_NOTEBOOK = ("S01", "S02", "S03")  # hand in the Q1 notebook with a written answer to (a)
LATE = "S05"  # two started days after the deadline
DEADLINE = "2025-03-01T23:59:00+00:00"
# a few CPU-seconds of real training each: enough to train an epoch or part of one, not to pass the thresholds
BUDGET = "q3=8,q4=8"


def grade(repo: Path, subs: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(repo), "PYTHONDONTWRITEBYTECODE": "1",
           "NNKIT_TRAINING_CPU_SECONDS": BUDGET}
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "grader.shipping.grade", "--submissions",
                           str(subs), "--intake", "gradescope", "--out", str(out), "-j", "2", *args], cwd=repo,
                          env=env, capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def notebook_with_answer(repo: Path, answer: str) -> str:
    nb = nbformat.read(repo / "assignments" / f"{Q1}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "answer:q1a" in c.metadata.get("tags", []))
    cell.source = answer
    return nbformat.writes(nb)


def make_class(repo: Path, export: Path) -> dict[str, dict[str, str]]:
    """Gradescope's export of twenty submissions; returns each student's files."""
    ref = {stem: (repo / "solutions" / f"{stem}.py").read_text() for stem in STEMS}
    q1_bug = mutate(ref[Q1], '"W2": np.array([h, -h]),', '"W2": np.array([h, h]),')
    q2_bug = mutate(ref[Q2], "return np.diag(y) - np.outer(y, y)", "return np.diag(y) - 2 * np.outer(y, y)")
    files: dict[str, dict[str, str]] = {}
    for sid in CLASS:
        number = int(sid[1:])
        if sid in TRAINED:
            files[sid] = {f"{s}.py": ref[s] for s in STEMS}
        elif number <= 12:
            files[sid] = {f"{Q1}.py": ref[Q1], f"{Q2}.py": ref[Q2]}
        elif number <= 14:
            files[sid] = {f"{Q1}.py": q1_bug, f"{Q2}.py": ref[Q2]}
        elif number <= 16:
            files[sid] = {f"{Q1}.py": ref[Q1], f"{Q2}.py": q2_bug}
        elif number == 17:
            files[sid] = {f"{Q2}.py": ref[Q2]}
        else:
            files[sid] = {"README.txt": "I ran out of time.\n"}
        if sid in WITH_NOTEBOOK:
            files[sid][f"{Q1}.ipynb"] = notebook_with_answer(repo, f"{sid}: two steps, $h$ up at $0$ and down at "
                                                                   f"$\\delta$, make the box.")
    write_export(export, files)
    return files


def write_export(export: Path, files: dict[str, dict[str, str]]) -> None:
    shutil.rmtree(export, ignore_errors=True)
    root = export / "assignment_77_export"
    metadata = []
    for sid, modules in files.items():
        folder = root / f"submission_{3000 + int(sid[1:])}"
        folder.mkdir(parents=True)
        for name, text in modules.items():
            (folder / name).write_text(text, encoding="utf-8")
        when = "2025-03-03 10:00:00.000000000 +00:00" if sid == LATE else "2025-03-01 20:00:00.000000000 +00:00"
        metadata.append(f"{folder.name}:\n  :submitters:\n  - :name: Student {sid[1:]}\n    :sid: {sid}\n"
                        f"    :email: {sid.lower()}@example.edu\n  :created_at: {when}\n  :score: 0.0\n")
    (root / "submission_metadata.yml").write_text("".join(metadata), encoding="utf-8")


def cache(out: Path, sid: str) -> dict[str, str]:
    return json.loads((out / sid / "meta.json").read_text())["cache"]


def trainings(out: Path) -> dict[tuple[str, str], str]:
    """Every training worker that ran, as kept in OUT, ``{(student, stem): its record}`` (a student without the
    question's file has a record of a worker that never started): a question taken from the cache keeps
    the record of the run that trained it, byte for byte; one that trained again gets a new one."""
    found = {}
    for sid in CLASS:
        record = json.loads((out / sid / "record.json").read_text())
        for stem in TRAINING:
            runs = [w for w in record["workers"] if w["stem"] == stem and w["group"] == "train" and w["started"]]
            if runs:
                found[(sid, stem)] = json.dumps(runs, sort_keys=True)
    return found


def gradebook(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        return {row["student_id"]: row for row in csv.DictReader(f)}


def ta_scores_in_the_browser(page: Path, downloads: Path, profile: Path, scores: dict[str, tuple[str, str]]) -> Path:
    """Open the written-answer page in headless Chromium, enter ``{sid: (score, comment)}`` and save the CSV."""
    browser = DevTools(profile)
    try:
        browser.call("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads))
        browser.page("Page.enable")
        browser.page("Page.navigate", url=page.as_uri())
        deadline = time.monotonic() + 30
        while browser.js("document.readyState") != "complete" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert browser.js("document.getElementById('grading').hidden") is False, "the grading script did not run"
        for sid, (score, comment) in scores.items():
            enter_score(browser, sid, score, comment)
        browser.js("document.getElementById('save').click()")
        return wait_for_file(downloads)
    finally:
        browser.close()


def test_a_whole_term_loses_nothing_and_retrains_only_what_changed(tmp_path):
    assert CHROMIUM, "the TAs' page is tested in Chromium, which `make setup` installs (scripts/system-packages.sh)"
    repo = copy_repository(tmp_path / "repo")
    export, out = tmp_path / "gradescope-export", tmp_path / "grades"
    files = make_class(repo, export)

    # 1. the class, graded once: every question of every student graded; the two full submissions train
    grade(repo, export, out)
    assert set(gradebook(out)) == set(CLASS)
    assert all(set(cache(out, sid).values()) == {"graded"} for sid in CLASS)
    trained = trainings(out)
    assert set(trained) == {(sid, stem) for sid in TRAINED for stem in TRAINING}, "the training did not run"
    for key, runs in trained.items():
        assert all(w["started"] and w["ok"] and w["cpu"] > 0 for w in json.loads(runs)), f"{key}: {runs[:500]}"
    first = gradebook(out)

    # 2. one resubmission, in a new export of the whole class: that student's changed questions only
    resubmitted = dict(files[RESUBMITS])
    resubmitted[f"{Q1}.py"] = (repo / "assignments" / f"{Q1}.py").read_text()
    resubmitted[f"{Q4}.py"] += "\n# tidied up before the resubmission\n"
    write_export(export, {**files, RESUBMITS: resubmitted})
    grade(repo, export, out)
    assert cache(out, RESUBMITS) == {Q1: "graded", Q2: "cached", Q3: "cached", Q4: "graded"}
    assert all(set(cache(out, sid).values()) == {"cached"} for sid in CLASS if sid != RESUBMITS)
    now = trainings(out)
    assert set(now) == set(trained)
    assert [k for k in trained if now[k] != trained[k]] == [(RESUBMITS, Q4)], "only the resubmitted Q4 may retrain"
    trained = now
    rows = gradebook(out)
    assert set(rows) == set(CLASS) and float(rows[RESUBMITS][Q1]) == 0 < float(first[RESUBMITS][Q1])
    assert all(rows[sid] == first[sid] for sid in CLASS if sid != RESUBMITS)

    # 3. a Q1 check changes: Q1 is regraded for everyone, nothing else
    checks = repo / "questions" / Q1 / "checks.py"
    checks.write_text(checks.read_text() + "\n# a hint reworded\n")
    grade(repo, export, out)
    assert all(cache(out, sid) == {Q1: "graded", Q2: "cached", Q3: "cached", Q4: "cached"} for sid in CLASS)
    assert trainings(out) == trained

    # 4. the TAs score (a) in the browser page; the saved CSV is merged
    maximum = written.load_questions()["q1a"].max_points
    scores = {"S01": (written.fmt_points(maximum), "complete"), "S02": ("0,5", "only one edge"),
              "S03": ("0", "=no box")}
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    saved = ta_scores_in_the_browser(out / "written" / "q1a.html", downloads, tmp_path / "profile", scores)
    grade(repo, export, out, "--manual-scores", str(saved))
    assert all(set(cache(out, sid).values()) == {"cached"} for sid in CLASS)

    # 5. the late policy: applied from the export's times, with nothing regraded
    proc = grade(repo, export, out, "--deadline", DEADLINE, "--late-policy", "per-day:10")
    assert all(set(cache(out, sid).values()) == {"cached"} for sid in CLASS)
    assert trainings(out) == trained
    assert f"{LATE} (late 2 days: -20%)" in proc.stdout

    # 6. the Canvas export
    env = {**os.environ, "PYTHONPATH": str(repo), "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "grader.reporting.export", str(out), "--format",
                    "canvas"], cwd=repo, env=env, check=True, capture_output=True, text=True, timeout=300)
    canvas = list(csv.reader(io.StringIO((out / "canvas.csv").read_text(encoding="utf-8"))))

    # nothing was lost: every student in the gradebook, the Canvas export and the written pages
    rows = gradebook(out)
    assert set(rows) == set(CLASS)
    assert canvas[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert canvas[1][0].strip() == "Points Possible"
    by_sid = {r[2]: r for r in canvas[2:]}
    assert set(by_sid) == set(CLASS) and len(canvas) == len(CLASS) + 2
    index = (out / "written" / "index.html").read_text()
    assert all(f"<td>{sid}</td>" in index for sid in CLASS)
    page = (out / "written" / "q1a.html").read_text()
    assert all(f'data-sid="{sid}"' in page for sid in CLASS)

    # the TA scores survived the later runs, which were not given the CSV, and reach feedback and export
    assert (rows["S01"]["q1a"], rows["S02"]["q1a"], rows["S03"]["q1a"], rows["S04"]["q1a"]) == (
        written.fmt_points(maximum), "0.5", "0", "")
    assert "only one edge" in (out / "S02" / "feedback.md").read_text()
    for sid in CLASS:
        total = float(rows[sid]["total_with_written"] or rows[sid]["total"])
        assert float(by_sid[sid][5]) == pytest.approx(max(total, 0)), sid
    assert float(by_sid["S01"][5]) == float(rows["S01"]["total"]) + maximum

    # the late penalty shows in the gradebook, the feedback and the export
    late = rows[LATE]
    assert float(late["late_penalty"]) > 0 and late["note"].startswith("late 2 days: -20%")
    assert float(late["total"]) == pytest.approx(float(first[LATE]["total"]) - float(late["late_penalty"]))
    assert float(by_sid[LATE][5]) == float(late["total"]) < float(by_sid["S04"][5])
    assert "late penalty 20%" in (out / LATE / "feedback.md").read_text()
    assert all(float(rows[sid]["late_penalty"] or 0) == 0 for sid in CLASS if sid != LATE)

    # and no training ran again but the resubmitted Q4
    assert trainings(out) == trained
