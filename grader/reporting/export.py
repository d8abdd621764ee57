"""What leaves OUT for the course site and the students, rebuilt from the class's record (never runs student code).

- ``nnkit export OUT --format canvas``: ``OUT/canvas.csv`` for Canvas's gradebook import: the columns Student, ID,
  SIS User ID, SIS Login ID, Section, then one column for the assignment, and a "Points Possible" row under the
  header.
- ``--format gradescope``: ``OUT/gradescope.csv`` keyed by Name, SID and Email, with Total Score (Gradescope matches
  uploaded scores by email or SID).
- ``--format generic``: ``OUT/gradebook.csv`` as the grader writes it (one column per question, total, max, note).
- ``nnkit export OUT --release-feedback DIR``: one ``<id>.zip`` per student in DIR: feedback.html (plots inline),
  feedback.md with its plots/, the written scores and comments; never results.json, the check record or the hidden
  checks' output.

A student's course total is the autograded score less the late penalty the intake recorded, plus the written
points scored so far (the gradebook's ``total_with_written``); the maximum is the autograded maximum plus the written rubrics' points. Who a student is (name,
Canvas id, SIS id, email) comes from ``OUT/<id>/intake.json`` when the intake wrote one (from a roster or a course
site's download); otherwise the submission's id stands in for the SIS User ID, the SID and the name.

Every text cell is one line, guarded against spreadsheet formulas (grader.files.csv_safe). The exports already in
OUT are rewritten by every grade run and merge (:func:`refresh`).

The columns, checked against the documentation: Canvas's gradebook import reads the layout of Canvas's own export,
Student, ID, SIS User ID, SIS Login ID, Section, then one column per assignment; any one of the first three finds the
student, a new assignment column creates the assignment and an imported score replaces Canvas's
(https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades,
columns A to F). We found no Gradescope documentation of a score import; Gradescope keys its roster by a unique email
per student (https://help.gradescope.com/article/w59nl02vyt-instructor-course-add-members), and the columns here are
those of Gradescope's own score export (Name, SID, Email, Total Score).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from grader.files import atomic_write_text, csv_key, csv_safe, write_zip
from grader.intake import record as intake_record
from grader.reporting import report, written

FORMATS = ("canvas", "gradescope", "generic")
# the columns Canvas's gradebook export starts with and its import reads, before one column per assignment
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
DEFAULT_ASSIGNMENT = "Neural networks homework"
RELEASED = ("feedback.html", "feedback.md")


@dataclass
class Total:
    """One student's row: who, and the course total."""
    student_id: str
    name: str
    site_id: str  # Canvas's user id, when the intake knows it
    sis_id: str
    email: str
    score: float
    max_score: float


def course_totals(out: Path, student_dirs: list[Path]) -> list[Total]:
    """The course total of every submission in ``student_dirs`` that has usable results, sorted by id."""
    questions = written.load_questions() if _has_rubrics() else {}
    sheet = written.stored_sheet(out, questions) if questions else written.ManualSheet()
    written_max = math.fsum(q.max_points for q in questions.values())
    totals = []
    for d in sorted(map(Path, student_dirs), key=lambda p: p.name):
        try:
            results = report.load_results(d)
        except report.ResultsError:
            continue
        auto_max = results.get("max_score", math.fsum(t["max_score"] for t in results["tests"]))
        # as the gradebook: the late penalty applies to the autograded points, then the written points are added
        score = results["score"] - intake_record.penalty(d, results["score"], auto_max)
        score += math.fsum(sheet.scores.get(csv_key(d.name), {}).values())
        maximum = auto_max + written_max
        info = intake_record.load(d)

        def text(k: str, info=info) -> str:
            return info.get(k) if isinstance(info.get(k), str) else ""
        totals.append(Total(d.name, text("name") or d.name, text("site_id") if text("site") == "canvas" else "",
                            text("sis_id"), text("email"), max(score, 0.0), maximum))
    return totals


def _has_rubrics() -> bool:
    from grader import registry
    return all(q.notebook.is_file() for q in registry.questions())


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def canvas_csv(totals: list[Total], assignment: str = DEFAULT_ASSIGNMENT) -> str:
    """Canvas's gradebook import: Student, ID, SIS User ID, SIS Login ID, Section, the assignment; the row under the
    header gives the points possible."""
    maximum = max((t.max_score for t in totals), default=0.0)
    rows = [[*CANVAS_COLUMNS, csv_safe(assignment)],
            ["    Points Possible", "", "", "", "", report.fmt_points(maximum)]]
    for t in totals:
        rows.append([csv_safe(t.name), csv_safe(t.site_id), csv_safe(t.sis_id or t.student_id), "", "",
                     report.fmt_points(t.score)])
    return _csv(rows)


def gradescope_csv(totals: list[Total]) -> str:
    """Scores keyed as Gradescope matches them: Name, SID, Email, Total Score."""
    rows = [["Name", "SID", "Email", "Total Score"]]
    for t in totals:
        rows.append([csv_safe(t.name), csv_safe(t.sis_id or t.student_id), csv_safe(t.email),
                     report.fmt_points(t.score)])
    return _csv(rows)


def export(out: Path, fmt: str, assignment: str = DEFAULT_ASSIGNMENT) -> Path:
    """Write the export ``fmt`` (one of :data:`FORMATS`) of the class graded into ``out``; return its path."""
    from grader.shipping.grade import graded_dirs

    out = Path(out)
    dirs = graded_dirs(out)
    if fmt == "generic":
        report.write_gradebook(out, dirs)
        if _has_rubrics():
            written.write_written_reports(out, dirs)  # the written columns
        return out / "gradebook.csv"
    totals = course_totals(out, dirs)
    path = out / f"{fmt}.csv"
    atomic_write_text(path, canvas_csv(totals, assignment) if fmt == "canvas" else gradescope_csv(totals))
    return path


def refresh(out: Path) -> list[Path]:
    """Rewrite every course-site export already in ``out`` (canvas.csv, gradescope.csv) from the class's record, so
    that a regrade or a merge never leaves one stale; the Canvas file keeps its assignment column's name. Returns
    the files rewritten."""
    out = Path(out)
    rewritten = []
    for fmt in ("canvas", "gradescope"):
        path = out / f"{fmt}.csv"
        if not path.is_file():
            continue
        assignment = DEFAULT_ASSIGNMENT
        if fmt == "canvas":
            try:
                header = next(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))), [])
            except (OSError, UnicodeDecodeError, csv.Error):
                header = []
            if len(header) == len(CANVAS_COLUMNS) + 1 and header[:-1] == list(CANVAS_COLUMNS) and header[-1]:
                assignment = header[-1]  # as written: csv_safe, applied again, leaves it as it is
        rewritten.append(export(out, fmt, assignment))
    return rewritten


def release_feedback(out: Path, target: Path) -> list[Path]:
    """One ``<id>.zip`` per graded submission in ``target``: the feedback pages and their plots, nothing else."""
    from grader.shipping.grade import graded_dirs, write_class_outputs

    out, target = Path(out), Path(target)
    write_class_outputs(out)  # the feedback with the latest written scores
    target.mkdir(parents=True, exist_ok=True)
    written_zips = []
    for d in graded_dirs(out):
        files = {name: (d / name).read_bytes() for name in RELEASED if (d / name).is_file()}
        plots = d / "plots"
        if plots.is_dir():
            files.update({f"plots/{p.name}": p.read_bytes() for p in sorted(plots.iterdir())
                          if p.is_file() and p.suffix.lower() in (".png", ".svg", ".jpg", ".jpeg")})
        path = target / f"{d.name}.zip"
        write_zip(path, {f"{d.name}/{name}": data for name, data in files.items()})
        written_zips.append(path)
    return written_zips


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export the class's grades for a course site, or write each "
                                                 "student's feedback to hand back.")
    parser.add_argument("out", type=Path, help="the directory `make grade` wrote (default there: grades/)")
    parser.add_argument("--format", choices=FORMATS, default="generic")
    parser.add_argument("--assignment", default=DEFAULT_ASSIGNMENT,
                        help="the assignment's column in the Canvas import (Canvas's own export names it "
                             "'Name (id)'; use that to fill an existing assignment)")
    parser.add_argument("--release-feedback", type=Path, metavar="DIR",
                        help="write one zip per student into DIR instead of exporting grades")
    args = parser.parse_args(argv)
    if not args.out.is_dir():
        print(f"error: {args.out} is not a directory", file=sys.stderr)
        return 2
    try:
        if args.release_feedback is not None:
            zips = release_feedback(args.out, args.release_feedback)
            print(f"wrote {len(zips)} feedback zip{'s' * (len(zips) != 1)} in {args.release_feedback}")
            return 0
        path = export(args.out, args.format, args.assignment)
    except (written.ManualScoresError, written.RubricError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
