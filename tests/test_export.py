"""Exports for the course sites and the feedback handed back, built from the class's record in OUT: Canvas's
gradebook import (Student, ID, SIS User ID, SIS Login ID, Section, the assignment, a Points Possible row),
Gradescope's keyed by SID and email, and one zip per student with nothing hidden in it."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest

from grader.reporting import export, written

TESTS = [
    {"name": "Q1a: the box network", "score": 4.0, "max_score": 4.0, "status": "passed",
     "tags": ["q1_expressivity", "q1a"], "output": ""},
    {"name": "Q1b: unseen functions", "score": 0.0, "max_score": 6.0, "status": "failed", "visibility":
     "after_published", "tags": ["q1_expressivity", "q1b"], "output": "SECRET hidden input 0.123"},
]


@pytest.fixture
def out(tmp_path):
    out = tmp_path / "grades"
    for sid, name in (("ada", "Ada Lovelace"), ("=bob", "")):
        d = out / sid
        (d / "plots").mkdir(parents=True)
        (d / "results.json").write_text(json.dumps({"score": 4.0, "max_score": 10.0, "tests": TESTS}))
        (d / "meta.json").write_text(json.dumps({"student_id": sid, "questions": {
            "q1_expressivity": {"worker": "stopped:\nline two"}}}))
        (d / "answers.json").write_text("{}")
        (d / "plots" / "q1b.png").write_bytes(b"\x89PNG\r\n\x1a\n")
        (d / "record.json").write_text("{}")
        if name:
            (d / "intake.json").write_text(json.dumps({"site": "canvas", "site_id": "4711", "name": name,
                                                       "sis_id": "S-1", "email": "ada@example.org"}))
    sheet = tmp_path / "ta.csv"
    sheet.write_text("student_id,q1a,q1a_comment\nada,1,neat\n")
    written.write_written_reports(out, [out / "ada", out / "=bob"], sheet)
    return out


def read(path):
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_canvas_export_has_the_documented_columns_and_points_possible(out):
    rows = read(export.export(out, "canvas"))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", export.DEFAULT_ASSIGNMENT]
    max_all = 10 + sum(q.max_points for q in written.load_questions().values())
    assert rows[1][0].strip() == "Points Possible" and float(rows[1][5]) == max_all
    by_name = {r[0]: r for r in rows[2:]}
    assert by_name["Ada Lovelace"][1:3] == ["4711", "S-1"] and float(by_name["Ada Lovelace"][5]) == 5
    # no roster: the id stands in, guarded against formulas
    assert by_name["'=bob"][2] == "'=bob" and float(by_name["'=bob"][5]) == 4


def test_gradescope_export_is_keyed_by_sid_and_email(out):
    rows = read(export.export(out, "gradescope"))
    assert rows[0] == ["Name", "SID", "Email", "Total Score"]
    assert ["Ada Lovelace", "S-1", "ada@example.org", "5"] in rows


def test_generic_export_is_the_gradebook_with_single_line_notes(out):
    path = export.export(out, "generic")
    assert path.name == "gradebook.csv"
    text = path.read_text()
    assert "q1_expressivity: stopped:" in text and "line two" not in text and "q1a" in read(path)[0]
    assert len(text.splitlines()) == 3


def test_release_feedback_writes_one_zip_per_student_without_hidden_details(out, tmp_path):
    zips = export.release_feedback(out, tmp_path / "release")
    assert sorted(p.name for p in zips) == ["=bob.zip", "ada.zip"]
    with zipfile.ZipFile(tmp_path / "release" / "ada.zip") as zf:
        names = set(zf.namelist())
        assert names == {"ada/feedback.html", "ada/feedback.md", "ada/plots/q1b.png"}
        page = zf.read("ada/feedback.html").decode()
    assert "SECRET" not in page and "neat" in page and "Written answers" in page


def test_export_command_refuses_a_missing_folder(tmp_path, capsys):
    assert export.main([str(tmp_path / "nowhere"), "--format", "canvas"]) == 2
    assert "is not a directory" in capsys.readouterr().err
