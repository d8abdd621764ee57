"""``nnkit grade`` on course-site downloads: the form is detected, the roster and the late policy reach
gradebook.csv, the feedback and the run summary, and a changed policy needs no regrade."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

from grader.shipping import grade
from tests.fixtures.intake import make_fixtures

FIXTURES = Path(make_fixtures.__file__).parent
STEM = make_fixtures.STEM
Q1 = "q1_expressivity"


def _gradebook(out: Path) -> dict[str, dict]:
    with open(out / "gradebook.csv", newline="") as f:
        return {row["student_id"]: row for row in csv.DictReader(f)}


def test_gradescope_export_with_roster_and_late_policy(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--submissions", str(FIXTURES / "gradescope.zip"), "--out", str(out), "--skip-training", "-j", "2",
            "--roster", str(FIXTURES / "roster.csv"), "--deadline", make_fixtures.DEADLINE]
    assert grade.main([*args, "--late-policy", "per-day:10"]) == 0
    summary = capsys.readouterr().out
    assert "intake: gradescope, 4 submissions; deadline 20" in summary
    assert "intake: unknown: S002 (John Smith) is not in the roster" in summary
    assert "intake: no submission: 1 student on the roster: Absent, Al" in summary
    assert "intake: late: S002 (late 2 days: -20%)" in summary
    rows = _gradebook(out)
    assert sorted(rows) == ["S001", "S002", "S003", "submission_3999"]
    full = float(rows["S001"][STEM])
    assert full > 0 and rows["S002"][STEM] == rows["S001"][STEM]  # "q2_softmax_jacobian (1).py" graded alike
    assert float(rows["S003"][STEM]) < full  # the group's broken softmax
    score, maximum = float(rows["S002"]["total"]) + float(rows["S002"]["late_penalty"]), float(rows["S002"]["max"])
    assert float(rows["S002"]["late_penalty"]) == min(score, 0.2 * maximum) > 0
    assert rows["S002"]["note"].startswith("late 2 days: -20%")
    assert rows["S001"]["late_penalty"] == "0" and "unknown student" in rows["submission_3999"]["note"]
    feedback = (out / "S002" / "feedback.md").read_text()
    assert "Late: submitted 2025-03-03" in feedback and "points deducted" in feedback
    assert f"took {STEM} (1).py as {STEM}.py" in feedback
    record = json.loads((out / "S003" / "intake.json").read_text())
    assert [m["name"] for m in record["members"]] == ["Anna Lee", "Omar Haddad"] and record["sis_id"] == "S003"

    assert grade.main([*args, "--late-policy", "none"]) == 0  # a new policy: every result cached, penalty gone
    summary = capsys.readouterr().out
    assert summary.count("(cached)") == 4
    assert _gradebook(out)["S002"]["late_penalty"] == "0"
    assert "Late: submitted 2025-03-03" in (out / "S002" / "feedback.md").read_text()  # still said, not charged


def test_tolerant_names_and_ambiguity_in_a_graded_class(tmp_path):
    klass = tmp_path / "class"
    for sid, files in {"canonical": {f"{STEM}.py": make_fixtures.q2()},
                       "reupload": {f"{STEM}-1.py": make_fixtures.q2()},
                       "both": {f"{STEM}.py": make_fixtures.q2(), f"{STEM} (1).py": make_fixtures.q2(),
                                f"{Q1}.py": (make_fixtures.REPO / "solutions" / f"{Q1}.py").read_bytes()}}.items():
        (klass / sid).mkdir(parents=True)
        for name, data in files.items():
            (klass / sid / name).write_bytes(data)
    out = tmp_path / "out"
    assert grade.main(["--submissions", str(klass), "--out", str(out), "--skip-training", "-j", "2"]) == 0
    rows = _gradebook(out)
    assert float(rows["canonical"][STEM]) > 0 and rows["reupload"][STEM] == rows["canonical"][STEM]
    assert rows["both"][STEM] == "0" and float(rows["both"][Q1]) > 0  # only the ambiguous question is lost
    feedback = (out / "both" / "feedback.md").read_text()
    assert f"2 files could be {STEM}.py" in feedback and "graded none of them" in feedback
    assert f"took {STEM}-1.py as {STEM}.py" in (out / "reupload" / "feedback.md").read_text()


def test_bad_intake_options_exit_2_with_a_message(tmp_path, capsys):
    plain = tmp_path / "alice.zip"
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr(f"{STEM}.py", "X = 1\n")
    out = str(tmp_path / "out")
    assert grade.main(["--submissions", str(plain), "--out", out]) == 2
    assert "neither a Canvas download" in capsys.readouterr().err
    assert grade.main(["--submissions", str(FIXTURES / "canvas.zip"), "--out", out, "--late-policy", "per-day:x",
                       "--deadline", "2025-03-01T23:59"]) == 2
    assert "per-day takes a percentage" in capsys.readouterr().err
    assert grade.main(["--submissions", str(FIXTURES / "canvas.zip"), "--out", out, "--late-policy", "per-day:10"]) == 2
    assert "needs --deadline" in capsys.readouterr().err
    assert grade.main(["--submissions", str(FIXTURES / "canvas.zip"), "--out", out, "--intake", "gradescope"]) == 2
    assert "holds no submission_metadata.yml" in capsys.readouterr().err
