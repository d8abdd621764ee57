"""Trusted work stays bounded whatever a student sends: text is capped where it enters, notebooks cost a bounded
time to read, any submission name is graded under a safe id, plots and odd return values never fail the run, and
one submission's workers share a wall-time budget that counts sleeping."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
from conftest import ROOT, solution_source
from nbformat.v4 import new_code_cell, new_notebook

from grader.checking import plugin
from grader.checking.messages import MESSAGE_CHARS
from grader.intake.submission import MAX_ID_BYTES, discover, prepare, printable, student_id_for
from grader.running import sandbox
from grader.running.runner import MAX_TEXT_CHARS, WorkerRun, capped_strings, capped_text
from grader.shipping.grade import checks_digest
from questions.q1_expressivity import plots as q1_plots

Q1 = solution_source("q1_expressivity")


def test_capped_text_keeps_short_text_and_marks_long_text():
    assert capped_text("short") == "short"
    long = "a" * 10_000 + "END"
    capped = capped_text(long)
    assert len(capped) < MAX_TEXT_CHARS + 100
    assert capped.startswith("aaa") and capped.endswith("END") and f"({len(long) - MAX_TEXT_CHARS} more characters)" in capped


def test_capped_strings_reach_every_string_of_a_reply():
    reply = {"calls": {"c": {"ok": False, "error": "x" * 15_000_000}},
             "k" * 50_000: [["y" * 20_000, 1.5, None, np.arange(3)]]}
    capped = capped_strings(reply)
    assert len(capped["calls"]["c"]["error"]) < MAX_TEXT_CHARS + 100
    (key,) = [k for k in capped if k != "calls"]
    assert len(key) < MAX_TEXT_CHARS + 100
    inner = capped[key][0]
    assert len(inner[0]) < MAX_TEXT_CHARS + 100 and inner[1:3] == [1.5, None] and inner[3].tolist() == [0, 1, 2]


def _run(stem: str, wall: float, ok: bool = True, reason: str = "") -> WorkerRun:
    return WorkerRun(stem, "main", ok=ok, reason=reason, started=True, wall=wall)


def test_wall_budget_gives_later_workers_only_what_is_left():
    budget = plugin.WallBudget({"main": (90.0, 150.0)})
    limits, refusal = budget.grant("q1", "main")
    assert refusal == "" and limits.timeout == plugin.GROUP_LIMITS["main"].timeout
    budget.charge("q1", "main", _run("q1", 60.0, ok=False, reason="timed out"), limits)
    limits, refusal = budget.grant("q1", "main")
    assert refusal == "" and limits.timeout == pytest.approx(30.0)
    run = _run("q1", 30.0, ok=False, reason="your code did not finish within the time limit")
    budget.charge("q1", "main", run, limits)
    assert "the time budget for q1 ran out" in run.reason and "sleeping included" in run.reason
    limits, refusal = budget.grant("q1", "main")
    assert "this part was not run" in refusal and "the time budget for q1 ran out" in refusal
    # another question still has its own share, cut to what the submission has left
    limits, refusal = budget.grant("q2", "main")
    assert refusal == "" and limits.timeout == pytest.approx(60.0)
    budget.charge("q2", "main", _run("q2", 58.5), limits)
    limits, refusal = budget.grant("q3", "main")
    assert "whole submission ran out" in refusal
    # training workers keep their own limit
    limits, refusal = budget.grant("q3", "train")
    assert refusal == "" and limits.timeout == plugin.GROUP_LIMITS["train"].timeout


def test_wall_budget_leaves_an_honest_submission_alone():
    budget = plugin.WallBudget()
    for stem, wall in [("q1", 0.5), ("q1", 0.5), ("q2", 1.2), ("q2", 1.1), ("q3", 8.5), ("q3", 6.9), ("q4", 0.5),
                       ("q4", 0.5)]:  # the reference's eight workers, measured on 2 loaded cores
        limits, refusal = budget.grant(stem, "main")
        assert refusal == "" and limits.timeout == plugin.GROUP_LIMITS["main"].timeout
        budget.charge(stem, "main", _run(stem, wall), limits)


def _net(n: int, w2: float) -> dict:
    """n boxes of height ``w2`` between -3 and 3 (outputs 0 and w2: finite even for w2 = 1.7e308)."""
    return {"W1": np.ones(2 * n), "b1": -np.linspace(-3, 3, 2 * n), "W2": np.tile([w2, -w2], n), "b2": 0.0}


def test_plot_of_extreme_values_is_left_out_with_a_note(tmp_path):
    path = tmp_path / "q1b.png"
    note = q1_plots.q1b_approximation(path, np.sin, np.pi, {4: _net(4, 1.7e308)}, {4: 1e308})
    assert "q1b.png was left out of the feedback" in note and not path.exists()
    assert q1_plots.q1b_approximation(path, np.sin, np.pi, {4: _net(4, 0.5)}, {4: 0.5}) == ""
    assert path.stat().st_size > 1000


def test_cache_key_follows_skip_training():
    assert checks_digest(False, skip_training=True) != checks_digest(False, skip_training=False)
    assert checks_digest(True, skip_training=True) != checks_digest(False, skip_training=True)


@pytest.mark.parametrize("name, problem", [
    ("caf\udce9", "not valid UTF-8"), ("a\tb;c", "control"), ("--help", "dash"), ("x" * 241, "longer"),
    ("\u65e5" * 85, "longer"), ("ctl\x1b[31m", "control")])
def test_bad_names_get_a_safe_id(name, problem):
    student_id, problems = student_id_for(name)
    assert problem in " ".join(problems)
    assert student_id.isprintable() and not student_id.startswith("-")
    assert len(student_id.encode("utf-8")) <= MAX_ID_BYTES
    assert student_id_for(name + "2")[0] != student_id


@pytest.mark.parametrize("name", ["alice", "jos\u00e9", "o'brien smith", "s1234567"])
def test_good_names_are_kept(name):
    assert student_id_for(name) == (name, [])


def test_discover_renames_what_it_cannot_use(tmp_path):
    names = [b"caf\xe9", b"-rf", b"y" * 255, b"ok"]
    for raw in names:
        (tmp_path / os.fsdecode(raw)).mkdir()
    with zipfile.ZipFile(tmp_path / os.fsdecode(b"z\xff" + b"q" * 240 + b".zip"), "w") as archive:
        archive.writestr("q1_expressivity.py", Q1)
    found = discover(tmp_path)
    assert len(found) == 5 and found.skipped == []
    assert len(found.renamed) == 4 and all(message.isprintable() for message in found.renamed)
    assert ("ok", tmp_path / "ok") in found
    assert all(len(sid.encode()) <= MAX_ID_BYTES and sid.isprintable() for sid, _ in found)


def test_names_inside_a_submission_are_printable(tmp_path):
    sub = tmp_path / "s"
    sub.mkdir()
    (sub / "q1_expressivity.py").write_text(Q1)
    (sub / os.fsdecode(b"notes\xe9\x1b.txt")).write_text("x")
    prepared = prepare(sub, "s", tmp_path / "work")
    text = json.dumps(prepared.general, ensure_ascii=False)
    text.encode("utf-8")  # no lone surrogates left
    assert "notes\\\\xe9\\\\x1b.txt" in text and printable("a\udce9") == "a\\xe9"


def _notebook_submission(tmp_path: Path, *cells: str) -> Path:
    sub = tmp_path / "nb"
    sub.mkdir(parents=True)
    notebook = new_notebook(cells=[new_code_cell(Q1), *map(new_code_cell, cells)])
    (sub / "q1_expressivity.ipynb").write_text(nbformat.writes(notebook))
    return sub


@pytest.mark.parametrize("cells", [
    ["".join(f"_x{i} = {i}\n" for i in range(9000)) + "".join(f"%time _y = {i}\n" for i in range(300))],
    ["".join(f"_x{i} = {i}\n" for i in range(600)) + "".join(f"!echo {i}\n" for i in range(12))] * 10,
], ids=["one big cell", "many cells"])
def test_notebook_transformation_is_bounded(tmp_path, cells):
    started = time.monotonic()
    prepared = prepare(_notebook_submission(tmp_path, *cells), "nb", tmp_path / "work")
    assert time.monotonic() - started < 10
    assert prepared.sources["q1_expressivity"] == "unreadable"
    assert "is too large to read" in prepared.errors["q1_expressivity"]
    assert "cell " in prepared.errors["q1_expressivity"]


def test_notebook_with_magics_and_big_plain_cells_is_still_read(tmp_path):
    plain = "".join(f"_x{i} = {i}\n" for i in range(9000))  # 100 KB of plain Python: never given to IPython
    broken = "def oops(:\n    pass\n" + "".join(f"_z{i} = {i}\n" for i in range(9000))  # a syntax error, no magics
    prepared = prepare(_notebook_submission(tmp_path, plain, "%time _t = 1\n!ls\n_u = 2\n"), "nb", tmp_path / "w1")
    assert prepared.sources["q1_expressivity"] == "notebook"
    assert any("removed IPython magic" in n for n in prepared.notes["q1_expressivity"])
    started = time.monotonic()
    prepared = prepare(_notebook_submission(tmp_path / "b", broken), "nb", tmp_path / "w2")
    assert time.monotonic() - started < 5
    assert "syntax error" in prepared.errors["q1_expressivity"]


# At import: one 15 MB message in the reply, which every Q1 check quotes (a 15 MB message per call would overflow the
# reply header's 16 MB and be refused whole).
HUGE_EXCEPTION = 'raise ValueError("x" * 15_000_000)\n'
ODD_BACKWARD = ("import numpy as np\n\n\ndef forward(weights, biases, x):\n    return np.full((len(x), 10), 0.1)\n\n\n"
                "def backward(weights, biases, x, y):\n    return (1.0, 2, 3)\n")


def _build_class(subs: Path) -> None:
    subs.mkdir()
    for raw, files in [(b"caf\xe9", {"q1_expressivity.py": Q1}), (b"-rf", {"q1_expressivity.py": Q1}),
                       (b"t" * 255, {"q1_expressivity.py": Q1}), (b"ctl\x1b[2J", {"q1_expressivity.py": Q1}),
                       (b"huge_exception", {"q1_expressivity.py": HUGE_EXCEPTION}),
                       (b"odd_backward", {"q4_numpy_backprop.py": ODD_BACKWARD})]:
        folder = subs / os.fsdecode(raw)
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text)


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("bounds")
    _build_class(root / "subs")
    runs = {}
    for label, extra in [("whole", []), ("shard1", ["--shard", "1/2"]), ("shard2", ["--shard", "2/2"])]:
        proc = subprocess.run([sys.executable, "-m", "grader.shipping.grade", "--submissions", str(root / "subs"),
                               "--out", str(root / label), "-j", "2", "--skip-training", *extra],
                              capture_output=True, text=True, cwd=ROOT, timeout=900)
        runs[label] = (proc, root / label)
    return runs


@pytest.mark.slow
def test_bad_input_never_costs_the_class(graded_class):
    proc, out = graded_class["whole"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "GRADER ERROR" not in proc.stderr and "internal errors" not in proc.stdout, proc.stdout + proc.stderr
    assert proc.stderr.count("renamed: ") == 4
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert len(rows) == 6 and "huge_exception" in rows and "odd_backward" in rows
    assert float(rows["_rf-" + student_id_for("-rf")[0].rsplit("-", 1)[1]]["q1_expressivity"]) == 11
    for name in ("junit.xml", "similarity.html"):
        assert (out / name).stat().st_size < 1 << 20
    assert (out / "written").is_dir()


@pytest.mark.slow
def test_a_huge_exception_message_stays_small(graded_class):
    _, out = graded_class["whole"]
    results = out / "huge_exception" / "results.json"
    assert results.stat().st_size < 1 << 20
    assert (out / "junit.xml").stat().st_size < 1 << 20 and (out / "gradebook.csv").stat().st_size < 1 << 20
    outputs = [t["output"] for t in json.loads(results.read_text())["tests"] if t["tags"][0] == "q1_expressivity"]
    # cut on arrival (runner: "N more characters") and to the message budget (messages.fit: "characters left out")
    assert any(("more characters" in o or "characters left out" in o) and "ValueError" in o for o in outputs)
    assert all(len(o) <= MESSAGE_CHARS for o in outputs)


@pytest.mark.slow
def test_odd_return_types_are_failed_checks_not_internal_errors(graded_class):
    _, out = graded_class["whole"]
    results = json.loads((out / "odd_backward" / "results.json").read_text())
    q4 = [t for t in results["tests"] if t["tags"][0] == "q4_numpy_backprop"]
    assert q4 and not [t["name"] for t in q4 if "internal grader error" in t["output"]]
    assert any("should each be a list of three arrays" in t["output"] for t in q4)


@pytest.mark.slow
def test_shards_of_badly_named_submissions_add_up(graded_class):
    ids = set()
    for label in ("shard1", "shard2"):
        proc, out = graded_class[label]
        assert proc.returncode == 0, proc.stderr[-3000:]
        with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
            ids |= {row["student_id"] for row in csv.DictReader(f)}
    with open(graded_class["whole"][1] / "gradebook.csv", newline="", encoding="utf-8") as f:
        assert ids == {row["student_id"] for row in csv.DictReader(f)}


def test_sandbox_limits_are_replaceable():
    """The budget cuts a group's limits with dataclasses.replace: Limits must stay a dataclass."""
    assert plugin.dataclasses.replace(sandbox.Limits(), timeout=5).timeout == 5
