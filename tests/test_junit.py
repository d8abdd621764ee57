"""CI outputs of a real grading run: junit.xml read back with junitparser, and `--fail-under`'s exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, mutate, solution_source
from junitparser import Failure, JUnitXml

Q1 = "q1_expressivity"


def grade(subs: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader.shipping.grade", "--submissions", str(subs), "--out", str(out),
                           "-j", "2", "--skip-training", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=1200)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    """Two students, Q1 only: ``good`` has the reference, ``bad`` a box of the wrong shape."""
    base = tmp_path_factory.mktemp("junit")
    subs, out = base / "submissions", base / "out"
    good = solution_source(Q1)
    bad = mutate(good, '"W2": np.array([h, -h]),', '"W2": np.array([h, h]),')
    for student, source in (("good", good), ("bad", bad)):
        (subs / student).mkdir(parents=True)
        (subs / student / f"{Q1}.py").write_text(source)
    proc = grade(subs, out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = {s: json.loads((out / s / "results.json").read_text()) for s in ("good", "bad")}
    return {"subs": subs, "out": out, "results": results}


def test_junit_has_a_suite_per_submission_and_a_case_per_check(run):
    xml = JUnitXml.fromfile(str(run["out"] / "junit.xml"))
    suites = {suite.name: suite for suite in xml}
    assert set(suites) == {"good", "bad"}
    for student, suite in suites.items():
        results = run["results"][student]
        props = {p.name: p.value for p in suite.properties()}
        assert float(props["score"]) == pytest.approx(results["score"], abs=0.01)
        assert float(props["max_score"]) == pytest.approx(results["max_score"], abs=0.01)
        cases = list(suite)
        assert [c.name for c in cases] == [t["name"] for t in results["tests"]]
        assert [c.classname for c in cases] == [f"{student}.{t['tags'][0]}" for t in results["tests"]]
        not_run = [t for t in results["tests"] if t.get("extra_data", {}).get("not_run")]  # --skip-training
        failed = [t for t in results["tests"] if t["status"] == "failed" and t not in not_run]
        assert suite.tests == len(cases) and suite.failures == len(failed) and suite.errors == 0
        assert suite.skipped == len(not_run)
        for case, test in zip(cases, results["tests"]):
            if test in not_run:
                assert case.is_skipped
            elif test["status"] == "passed":
                assert case.is_passed
            else:
                (failure,) = case.result
                assert isinstance(failure, Failure) and failure.message.startswith("scored ")
    assert xml.tests == sum(s.tests for s in suites.values())
    assert xml.failures == sum(s.failures for s in suites.values())


def test_junit_failures_match_the_checks_outcomes(run):
    suites = {suite.name: suite for suite in JUnitXml.fromfile(str(run["out"] / "junit.xml"))}
    q1_failures = {stem: [c.name for c in suites[stem] if c.classname.endswith(Q1) and not c.is_passed]
                   for stem in suites}
    assert q1_failures["good"] == [], "the reference fails no Q1 check"
    assert q1_failures["bad"], "the wrong box must fail a Q1 check"
    # the failure text is what the student reads, hidden checks included (the file is for instructors and CI)
    bad = next(c for c in suites["bad"] if c.classname.endswith(Q1) and not c.is_passed)
    assert bad.result[0].text.strip()
    # questions not submitted fail too, with the reason
    missing = next(c for c in suites["good"] if not c.classname.endswith(Q1) and not c.is_passed)
    assert "not found in the submission" in missing.result[0].text


def test_low_scores_do_not_fail_the_run_by_default(run):
    assert max(r["score"] for r in run["results"].values()) < 20  # far below full marks: Q2-Q4 are missing
    proc = grade(run["subs"], run["out"])
    assert proc.returncode == 0 and "(cached)" in proc.stdout


def test_fail_under_exits_3_naming_each_low_submission(run):
    good, bad = run["results"]["good"]["score"], run["results"]["bad"]["score"]
    assert bad < good
    proc = grade(run["subs"], run["out"], "--fail-under", f"{(good + bad) / 2}")
    assert proc.returncode == 3, proc.stderr
    assert "bad:" in proc.stderr and "good:" not in proc.stderr
    proc = grade(run["subs"], run["out"], "--fail-under", f"{good + 1}")
    assert proc.returncode == 3 and "bad:" in proc.stderr and "good:" in proc.stderr


def test_fail_under_at_or_below_every_score_exits_0(run):
    bad = run["results"]["bad"]["score"]
    assert grade(run["subs"], run["out"], "--fail-under", f"{bad}").returncode == 0
    assert grade(run["subs"], run["out"], "--fail-under", "0").returncode == 0
