"""The late policy (grader.intake.deadline) and how its penalty reaches the gradebook and the feedback
(grader.intake.record, read by grader.reporting.report)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from grader.intake import deadline, record
from grader.intake.collect import Intake
from grader.intake.incoming import Incoming
from grader.reporting import report

DUE = datetime(2025, 3, 1, 23, 59, tzinfo=timezone(timedelta(hours=-8)))


def test_policies_parse():
    assert deadline.LatePolicy.parse("none") == deadline.LatePolicy()
    assert deadline.LatePolicy.parse(None) == deadline.LatePolicy()
    assert deadline.LatePolicy.parse("per-day:10").per_day == 10
    both = deadline.LatePolicy.parse("per-day:12.5,cutoff:2025-03-08T23:59-08:00")
    assert both.per_day == 12.5 and both.cutoff == DUE + timedelta(days=7)
    assert deadline.parse_time("2025-03-02T07:59Z") == DUE
    assert deadline.parse_time("2025-03-01T23:59").tzinfo is not None  # local time


@pytest.mark.parametrize("text, phrase", [
    ("per-day:abc", "per-day takes a percentage"), ("per-day:0", "per-day takes a percentage"),
    ("per-day:150", "per-day takes a percentage"), ("weekly:5", "expected none, per-day"),
    ("cutoff:tomorrow", "is not an ISO 8601 time"),
])
def test_bad_policies_say_what_is_expected(text, phrase):
    with pytest.raises(deadline.PolicyError, match=phrase):
        deadline.LatePolicy.parse(text)


def test_on_time_and_per_day_lateness():
    policy = deadline.LatePolicy.parse("per-day:10")
    assert deadline.assess(DUE, None, DUE, policy) == deadline.Lateness(False)
    late = deadline.assess(DUE + timedelta(days=1, hours=12), None, DUE, policy)
    assert (late.late, late.days, late.fraction) == (True, 2, pytest.approx(0.2))
    assert "1 day 12 h after the deadline" in late.line and "20% of the points possible" in late.line
    assert late.note == "late 2 days: -20%"
    assert late.penalty(30, 45) == pytest.approx(9) and late.penalty(5, 45) == 5  # never below 0
    barely = deadline.assess(DUE + timedelta(minutes=1), None, DUE, policy)
    assert barely.days == 1 and barely.fraction == pytest.approx(0.1)
    assert deadline.assess(DUE + timedelta(days=30), None, DUE, policy).fraction == 1.0


def test_cutoff_zeroes_and_late_without_penalty():
    policy = deadline.LatePolicy.parse(f"per-day:10,cutoff:{(DUE + timedelta(days=2)).isoformat()}")
    after = deadline.assess(DUE + timedelta(days=3), None, DUE, policy)
    assert after.zero and after.penalty(40, 45) == 40 and "after the cutoff" in after.line
    free = deadline.assess(DUE + timedelta(hours=1), None, DUE, deadline.LatePolicy())
    assert free.late and free.fraction == 0 and "no late penalty" in free.line


def test_site_flag_without_a_time_is_reported_not_charged():
    lateness = deadline.assess(None, True, DUE, deadline.LatePolicy.parse("per-day:10"), "Canvas")
    assert lateness.late and lateness.fraction == 0
    assert "marked late by Canvas" in lateness.line and "no submission time" in lateness.line
    assert deadline.assess(None, None, DUE, deadline.LatePolicy()).line == ""


def _graded(out: Path, sid: str, score: float, max_score: float = 45) -> Path:
    folder = out / sid
    folder.mkdir(parents=True)
    test = {"name": "Q2: softmax", "score": score, "max_score": max_score, "status": "passed" if score else "failed",
            "tags": ["q2_softmax_jacobian", "q2"], "number": "2.1", "output": "", "visibility": "visible"}
    (folder / "results.json").write_text(json.dumps({"score": score, "max_score": max_score, "tests": [test],
                                                     "output": "", "execution_time": 1.0}))
    (folder / "meta.json").write_text(json.dumps({"student_id": sid, "questions": {}, "general": []}))
    return folder


def test_penalty_reaches_gradebook_and_feedback(tmp_path):
    out = tmp_path / "out"
    late = _graded(out, "late", 30)
    on_time = _graded(out, "ontime", 30)
    intake = Intake([Incoming("late", late, "gradescope", submitted_at=DUE + timedelta(days=1, hours=2)),
                     Incoming("ontime", on_time, "gradescope", submitted_at=DUE - timedelta(hours=2))], "gradescope")
    policy = deadline.LatePolicy.parse("per-day:10")
    assert sorted(record.write(out, intake, DUE, policy)) == ["late", "ontime"]
    assert record.write(out, intake, DUE, policy) == []  # unchanged: nothing rewritten
    header = report.gradebook_header()
    rows = {r[0]: dict(zip(header, r)) for r in (report.gradebook_row(late), report.gradebook_row(on_time))}
    assert (rows["late"]["late_penalty"], rows["late"]["total"]) == ("9", "21")
    assert rows["late"]["note"].startswith("late 2 days: -20%")
    assert (rows["ontime"]["late_penalty"], rows["ontime"]["total"]) == ("0", "30")
    view = report.build_view(late)
    assert view.general[0].startswith("Late: submitted ") and "9 points deducted, 21 / 45 after the penalty" \
        in view.general[0]
    assert not any(line.startswith("Late:") for line in report.build_view(on_time).general)
    # a new policy rewrites the record without regrading
    assert record.write(out, intake, DUE, deadline.LatePolicy()) == ["late", "ontime"]
    assert report.gradebook_row(late)[header.index("late_penalty")] == "0"
