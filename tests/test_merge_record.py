"""`nnkit merge` treats OUT as the class's record: it adds the shards' submissions to what OUT already holds, keeps
the TA scores stored there, and rebuilds every class output (gradebook, junit, written pages, similarity, the
course-site exports already written) from the whole of OUT, exactly as a grade run does."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import solution_source
from test_written import answers_json, handout_cells

from grader.reporting import export, written
from grader.shipping import merge
from grader.shipping.grade import write_class_outputs

Q1 = "q1_expressivity"


def results(score: float) -> dict:
    return {"score": score, "max_score": 10.0, "tests": [
        {"name": "Q1a: the box network", "score": score, "max_score": 10.0,
         "status": "passed" if score == 10 else "failed", "tags": [Q1, "q1a"], "output": ""}]}


def graded(out: Path, sid: str, score: float, answer: str = "", module: str = "") -> Path:
    """A submission as the grader leaves it in OUT (its results, meta, written answers and, given ``module``, the
    Q1 module it handed in)."""
    d = out / sid
    d.mkdir(parents=True)
    if module:
        (d / "submission").mkdir()
        (d / "submission" / f"{Q1}.py").write_text(module, encoding="utf-8")
    cells = handout_cells(Q1, edits={"answer:q1a": answer}) if answer else handout_cells(Q1)
    (d / "answers.json").write_text(json.dumps(answers_json(**{Q1: cells})), encoding="utf-8")
    (d / "results.json").write_text(json.dumps(results(score)), encoding="utf-8")
    (d / "meta.json").write_text(json.dumps({"student_id": sid}), encoding="utf-8")
    return d


def gradebook(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        return {row["student_id"]: row for row in csv.DictReader(f)}


@pytest.fixture
def term(tmp_path):
    """OUT graded earlier (ann, ben, with a TA score for ann and a Canvas export), and two shards: one regrades ben
    and adds cy, the other adds dee."""
    out = tmp_path / "grades"
    graded(out, "ann", 10, "Two steps make a box.", module=solution_source(Q1))
    graded(out, "ben", 2, "No idea.")
    write_class_outputs(out)
    sheet = tmp_path / "ta.csv"
    sheet.write_text("student_id,q1a,q1a_comment\nann,1,clear and complete\n", encoding="utf-8")
    write_class_outputs(out, sheet)
    export.export(out, "canvas", "HW 1 (4711)")
    shard1, shard2 = tmp_path / "shard-1", tmp_path / "shard-2"
    graded(shard1, "ben", 7, "A box is two steps.")
    graded(shard1, "cy", 5)
    graded(shard2, "dee", 3, "Steps.", module=solution_source(Q1))  # ann's copy
    for shard in (shard1, shard2):
        write_class_outputs(shard)
    return out, [shard1, shard2]


def test_merge_keeps_every_submission_already_in_out(term):
    out, shards = term
    subs = merge.merge(shards, out)
    assert [p.name for p in subs] == ["ann", "ben", "cy", "dee"]
    rows = gradebook(out)
    assert set(rows) == {"ann", "ben", "cy", "dee"}, "a merge dropped a submission OUT already held"
    assert (rows["ann"]["total"], rows["ben"]["total"], rows["cy"]["total"], rows["dee"]["total"]) == \
        ("10", "7", "5", "3"), "ben's shard result must replace his earlier one"
    suites = {s.get("name") for s in ET.parse(out / "junit.xml").getroot().iter("testsuite")}
    assert suites == {"ann", "ben", "cy", "dee"}
    index = (out / "written" / "index.html").read_text()
    assert all(f"<td>{sid}</td>" in index for sid in ("ann", "ben", "cy", "dee"))
    page = (out / "written" / "q1a.html").read_text()
    assert "A box is two steps." in page and "No idea." not in page and "Steps." in page
    # the report compares the whole class: dee (from a shard) copied ann (graded into OUT before)
    similarity = (out / "similarity.html").read_text()
    assert "ann" in similarity and "dee" in similarity
    assert not list(out.glob(".merge-*"))


def test_merge_keeps_the_ta_scores_and_refreshes_the_exports(term):
    out, shards = term
    merge.merge(shards, out)
    rows = gradebook(out)
    assert rows["ann"]["q1a"] == "1" and float(rows["ann"]["total_with_written"]) == 11
    assert rows["dee"]["q1a"] == ""
    feedback = (out / "ann" / "feedback.md").read_text()
    assert "clear and complete" in feedback and "Course total: 11 /" in feedback
    canvas = list(csv.reader(io.StringIO((out / "canvas.csv").read_text(encoding="utf-8"))))
    assert canvas[0][-1] == "HW 1 (4711)", "the refreshed Canvas export lost its assignment column"
    assert sorted(r[2] for r in canvas[2:]) == ["ann", "ben", "cy", "dee"]
    assert {r[2]: r[5] for r in canvas[2:]}["ben"] == "7"
    assert not (out / "gradescope.csv").exists(), "only exports already written are refreshed"


def test_merge_adds_the_ta_scores_a_shard_kept(term, tmp_path):
    out, (shard1, shard2) = term
    sheet = tmp_path / "shard-ta.csv"
    sheet.write_text("student_id,q1a\ndee,0.5\n", encoding="utf-8")
    write_class_outputs(shard2, sheet)
    graded(shard2, "ann", 9, "Two steps make a box.")  # ann regraded in a shard that holds an older TA score
    sheet.write_text("student_id,q1a,q1a_comment\nann,0,old\ndee,0.5,\n", encoding="utf-8")
    write_class_outputs(shard2, sheet)
    merge.merge([shard1, shard2], out)
    rows = gradebook(out)
    assert (rows["ann"]["q1a"], rows["dee"]["q1a"]) == ("1", "0.5"), "OUT's TA scores win; the shard's fill gaps"
    stored = written.stored_sheet(out)
    assert stored.comments["ann"]["q1a"] == "clear and complete"


def test_merge_into_an_empty_out_is_the_shards(term, tmp_path):
    _, shards = term
    fresh = tmp_path / "fresh"
    assert [p.name for p in merge.merge(shards, fresh)] == ["ben", "cy", "dee"]
    assert set(gradebook(fresh)) == {"ben", "cy", "dee"}


def test_merge_command_says_how_many_out_holds(term, capsys):
    out, shards = term
    assert merge.main(["--out", str(out), *map(str, shards)]) == 0
    assert "which now holds 4 graded submissions" in capsys.readouterr().out
    assert merge.main(["--out", str(out), str(out.parent / "nowhere")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_refresh_rewrites_only_the_exports_written_and_keeps_their_assignment(term):
    out, _ = term
    export.export(out, "canvas", "=HW 1")  # a name a spreadsheet would take for a formula
    graded(out, "eve", 4)
    assert [p.name for p in export.refresh(out)] == ["canvas.csv"]
    canvas = list(csv.reader(io.StringIO((out / "canvas.csv").read_text(encoding="utf-8"))))
    assert canvas[0][-1] == "'=HW 1" and "eve" in {r[2] for r in canvas[2:]}
    (out / "canvas.csv").write_text("not,a,canvas,file\n", encoding="utf-8")
    export.refresh(out)
    assert next(csv.reader(io.StringIO((out / "canvas.csv").read_text())))[-1] == export.DEFAULT_ASSIGNMENT
