"""Sharded grading: `--shard i/n` runs merged by grader.shipping.merge give exactly what one run over the class gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, mutate, solution_source
from junitparser import JUnitXml

from grader.shipping import merge
from grader.shipping.grade import in_shard

N = 3
Q1, Q2 = "q1_expressivity", "q2_softmax_jacobian"
# ids chosen so that every shard of 3 gets two students (see test_each_student_is_in_exactly_one_shard)
STUDENTS = ("alice", "bob", "carol", "dave", "peggy", "sybil")


def grade(*args: str) -> subprocess.CompletedProcess:
    # the published visible inputs: the shards and the single run must agree byte for byte, and fresh inputs (drawn
    # for each grading run) would change the numbers failing checks quote
    proc = subprocess.run([sys.executable, "-m", "grader.shipping.grade", "-j", "2", "--skip-training", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200,
                          env={**os.environ, "NNKIT_PUBLISHED_INPUTS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def make_class(subs: Path) -> None:
    """Six small submissions (Q1 and Q2 only, so no training and no TensorFlow): right, wrong, missing, zipped."""
    q1, q2 = solution_source(Q1), solution_source(Q2)
    q1_bug = mutate(q1, '"W2": np.array([h, -h]),', '"W2": np.array([h, h]),')
    q2_bug = mutate(q2, "return np.diag(y) - np.outer(y, y)", "return np.diag(y) - 2 * np.outer(y, y)")
    files = {
        "alice": {Q1: q1, Q2: q2},
        "bob": {Q1: q1, Q2: q2_bug},
        "dave": {Q2: q2},
        "peggy": {Q1: q1_bug, Q2: q2},
        "sybil": {},
    }
    for student, modules in files.items():
        (subs / student).mkdir(parents=True)
        for stem, source in modules.items():
            (subs / student / f"{stem}.py").write_text(source)
    (subs / "sybil" / "README.txt").write_text("I ran out of time.\n")
    with zipfile.ZipFile(subs / "carol.zip", "w") as zf:
        zf.writestr(f"hw/{Q1}.py", q1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("sharding")
    subs = base / "submissions"
    make_class(subs)
    out = {"single": base / "single", "merged": base / "merged"}
    grade("--submissions", str(subs), "--out", str(out["single"]))
    for i in range(1, N + 1):
        out[f"shard-{i}"] = base / f"shard-{i}"
        grade("--submissions", str(subs), "--out", str(out[f"shard-{i}"]), "--shard", f"{i}/{N}")
    proc = subprocess.run([sys.executable, "-m", "grader.shipping.merge", "--out", str(out["merged"]),
                           *(str(out[f"shard-{i}"]) for i in range(1, N + 1))],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out


def graded_ids(out: Path) -> set[str]:
    return {p.name for p in merge.submission_dirs(out)}


def test_each_student_is_in_exactly_one_shard(runs):
    shards = [graded_ids(runs[f"shard-{i}"]) for i in range(1, N + 1)]
    assert sorted(s for shard in shards for s in shard) == sorted(STUDENTS)
    assert all(shards), f"an empty shard proves little: {shards}"
    for i, shard in enumerate(shards, 1):
        assert shard == {s for s in STUDENTS if in_shard(s, i, N)}


def test_merged_gradebook_is_the_single_runs(runs):
    single = (runs["single"] / "gradebook.csv").read_text()
    assert (runs["merged"] / "gradebook.csv").read_text() == single
    assert len(single.splitlines()) == len(STUDENTS) + 1


def test_merged_results_are_the_single_runs_but_for_time(runs):
    assert graded_ids(runs["merged"]) == graded_ids(runs["single"]) == set(STUDENTS)
    scores = {}
    for student in STUDENTS:
        one, merged = (json.loads((runs[k] / student / "results.json").read_text()) for k in ("single", "merged"))
        assert one.pop("execution_time") >= 0 and merged.pop("execution_time") >= 0
        assert merged == one, student
        scores[student] = one["score"]
    # the class is varied: full marks on what was submitted, a bug, nothing at all
    assert scores["alice"] > scores["bob"] > 0 and scores["sybil"] == 0


def _junit(path: Path) -> dict:
    xml = JUnitXml.fromfile(str(path))
    suites = {}
    for suite in xml:
        props = {p.name: p.value for p in suite.properties()}
        cases = [(c.classname, c.name, tuple((type(r).__name__, r.message) for r in c.result)) for c in suite]
        suites[suite.name] = (props, suite.tests, suite.failures, suite.errors, cases)
    return {"tests": xml.tests, "failures": xml.failures, "errors": xml.errors, "suites": suites}


def test_merged_junit_is_equivalent_to_the_single_runs(runs):
    single, merged = _junit(runs["single"] / "junit.xml"), _junit(runs["merged"] / "junit.xml")
    assert merged == single
    assert set(single["suites"]) == set(STUDENTS) and single["failures"] > 0


def test_merge_refuses_overlapping_shards(runs, tmp_path):
    with pytest.raises(SystemExit, match="the shards overlap"):
        merge.merge([runs["single"], runs["shard-1"]], tmp_path / "out")


def test_make_passes_shard_and_merge_arguments():
    dry = subprocess.run(["make", "-n", "grade", "SHARD=2/3", "OUT=grades-2", "FAIL_UNDER=10"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "-m grader.shipping.cli grade" in dry and "--out grades-2" in dry and "--shard 2/3" in dry and "--fail-under 10" in dry
    dry = subprocess.run(["make", "-n", "merge", "SHARDS=grades-1 grades-2", "OUT=grades"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "-m grader.shipping.cli merge --out grades grades-1 grades-2" in dry
