"""Collect a class's submissions from what a course site hands the instructor, in one of four forms:

- ``folders``: a folder holding one folder or ``.zip`` per student, named by the student id (grader.intake.submission);
- ``canvas``: Canvas's "Download Submissions" zip, or the folder it unzips to (grader.intake.canvas);
- ``gradescope``: Gradescope's "Export Submissions" zip or folder, with ``submission_metadata.yml``
  (grader.intake.gradescope_export);
- ``classroom``: a folder of GitHub Classroom repositories (grader.intake.classroom).

:func:`detect` tells them apart; :func:`collect` returns an :class:`Intake`, a list of ``(student_id, source)`` like
:func:`grader.intake.submission.discover`'s, with an :class:`~grader.intake.incoming.Incoming` per id and the lines
the run summary reports: unknown students, duplicates, roster problems. Nothing is merged or dropped unreported.
"""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path

from grader.intake import canvas, classroom, gradescope_export, roster, submission
from grader.intake.incoming import Incoming

FORMS = ("folders", "canvas", "gradescope", "classroom")
_SHOWN_ABSENT = 20


class IntakeError(ValueError):
    """The submissions cannot be collected at all; the message says why and what is expected."""


class Intake(submission.Discovered):
    """``[(student_id, source), ...]`` sorted by id; ``items`` maps each id to its :class:`Incoming`, ``form`` is
    the form read, ``report`` the lines for the run summary."""

    def __init__(self, items: list[Incoming], form: str, skipped=(), renamed=(), report=()):
        items = sorted(items, key=lambda i: i.student_id)
        super().__init__([(i.student_id, i.source) for i in items], skipped, renamed)
        self.items = {i.student_id: i for i in items}
        self.form = form
        self.report: list[str] = list(report)


def detect(path: Path) -> str:
    """The form of ``path`` (one of :data:`FORMS`); :class:`IntakeError` if it is none of them."""
    path = Path(path)
    if path.is_dir():
        if gradescope_export.looks_like(path):
            return "gradescope"
        files = canvas.members(path)
        folders = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if canvas.looks_like(files) and len(files) > len(folders):
            return "canvas"
        if classroom.looks_like(path):
            return "classroom"
        return "folders"
    if path.is_file() and zipfile.is_zipfile(path):
        if gradescope_export.looks_like(path):
            return "gradescope"
        if canvas.looks_like(canvas.members(path)):
            return "canvas"
        raise IntakeError(
            f"{path} is a zip, but neither a Canvas download (flat files named <name>_<user id>_<attachment id>_"
            f"<file>) nor a Gradescope export (with submission_metadata.yml). A class is a folder holding one folder "
            f"or zip per student: to grade one student's zip, put it in a folder of its own")
    if path.exists():
        raise IntakeError(f"{path} is neither a folder of submissions nor a zip from a course site")
    raise IntakeError(f"{path} does not exist")


def collect(path: Path, form: str | None = None, roster_path: Path | None = None) -> Intake:
    """Every submission in ``path``, read as ``form`` (detected when None), with the roster applied if given."""
    path = Path(path)
    form = form or detect(path)
    if form not in FORMS:
        raise IntakeError(f"unknown intake form {form!r}: expected one of {', '.join(FORMS)}")
    if form in ("folders", "classroom") and not path.is_dir():
        raise IntakeError(f"{path} is not a folder; the {form} form is a folder of submissions")
    skipped, renamed, report = [], [], []
    if form == "folders":
        found = submission.discover(path)
        skipped, renamed = found.skipped, found.renamed
        items = [Incoming(sid, source, "folders", site_id=sid) for sid, source in found]
    else:
        reader = {"canvas": canvas.read, "gradescope": gradescope_export.read, "classroom": classroom.read}[form]
        try:
            items, report = reader(path)
        except (gradescope_export.ExportError, zipfile.BadZipFile, OSError) as exc:
            raise IntakeError(f"{path} cannot be read as a {form} download: {exc}") from None
        items = _safe_ids(items, skipped, renamed)
    intake = Intake(items, form, skipped, renamed, report)
    if roster_path is not None:
        try:
            people = roster.read(roster_path)
        except roster.RosterError as exc:
            raise IntakeError(str(exc)) from None
        _apply_roster(intake, people)
    return intake


def _safe_ids(items: list[Incoming], skipped: list[str], renamed: list[str]) -> list[Incoming]:
    kept: dict[str, Incoming] = {}
    for item in items:
        sid, problems = submission.student_id_for(item.student_id)
        if problems:
            renamed.append(f"{submission.printable(item.student_id)[:80]}: graded as {sid!r}, since the id "
                           f"{' and '.join(problems)}")
        if sid in submission.RESERVED_IDS or sid in kept:
            skipped.append(f"{submission.printable(item.site_id)}: skipped, its id {sid!r} is "
                           + ("one the grader writes itself" if sid in submission.RESERVED_IDS
                              else "already taken by another submission"))
            continue
        item.student_id = sid
        kept[sid] = item
    return list(kept.values())


def _keys(item: Incoming) -> set[str]:
    return {roster.key(v) for v in (item.site_id, item.email, item.sis_id, item.student_id) if v and v.strip()}


def _apply_roster(intake: Intake, people: list[roster.Person]) -> None:
    """Fill names, emails and SIS ids from the roster; report who is not on it, who submitted twice (the later
    submission is graded when both have times; otherwise both are, each flagged) and who did not submit."""
    found, clashes = roster.index(people)
    intake.report += clashes
    owner: dict[int, list[Incoming]] = {}
    for item in intake.items.values():
        matches = {id(found[k]): found[k] for k in _keys(item) if k in found}
        if len(matches) != 1:
            item.in_roster = False
            why = "is not in the roster" if not matches else "matches several roster rows"
            line = f"{item.student_id}" + (f" ({item.name})" if item.name else "") + f" {why}"
            item.notes.append(f"unknown student: {line}")
            intake.report.append(f"unknown: {line}")
            continue
        person = next(iter(matches.values()))
        item.in_roster = True
        item.name = person.name or item.name
        item.email = person.email or item.email
        item.sis_id = person.sis_id or item.sis_id
        owner.setdefault(id(person), []).append(item)
    for items in owner.values():
        if len(items) < 2:
            continue
        ids = ", ".join(i.student_id for i in items)
        if all(i.submitted_at for i in items):
            items.sort(key=lambda i: i.submitted_at or datetime.min)
            kept = items[-1]
            for older in items[:-1]:
                line = (f"{older.student_id} and {kept.student_id} are both {kept.name or kept.sis_id or 'one student'}"
                        f" on the roster: graded the later, {kept.student_id}")
                kept.notes.append(line)
                intake.report.append(f"duplicate: {line}; {older.student_id} is not graded")
                intake.remove((older.student_id, older.source))
                del intake.items[older.student_id]
        else:
            line = f"{ids} are one student on the roster ({items[0].name or items[0].sis_id}); all are graded"
            for i in items:
                i.notes.append(f"duplicate: {line}")
            intake.report.append(f"duplicate: {line}, since they carry no submission times to choose by")
    covered = {id(found[roster.key(v)]) for item in intake.items.values() for m in item.members
               for v in (m.get("email", ""), m.get("sis_id", "")) if v and roster.key(v) in found}
    absent = [p for p in people if id(p) not in owner and id(p) not in covered]
    if absent:
        shown = ", ".join(p.name or sorted(p.keys)[0] for p in absent[:_SHOWN_ABSENT])
        more = f" and {len(absent) - _SHOWN_ABSENT} more" if len(absent) > _SHOWN_ABSENT else ""
        intake.report.append(f"no submission: {len(absent)} student{'s' * (len(absent) != 1)} on the roster: "
                             f"{shown}{more}")
