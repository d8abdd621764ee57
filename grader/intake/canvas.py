"""Canvas's "Download Submissions": one flat zip (or the folder it unzips to) for the whole class.

Canvas names each uploaded file ``<name>_[late_]<user id>_<attachment id>_<file as uploaded>``, where ``<name>``
is the student's sortable name with the punctuation removed (``doejane``, or ``lastname_firstname`` in some
exports) and ``late`` marks a submission after the due date; a file uploaded again under the same name gets a copy
number (``q2_softmax_jacobian-1.py``). The download holds no submission times. Files are grouped into one
submission per user id; when several files stand for one question, the newest upload (the highest attachment id)
is taken and the others are left out, each said in the report.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from grader.intake import names
from grader.intake.incoming import Incoming
from grader.intake.submission import Part

SITE = "Canvas"
NAME = re.compile(r"(?P<name>.+?)_(?:(?P<late>(?i:late))_)?(?P<user>\d+)_(?P<attachment>\d+)_(?P<file>.+)")


def members(container: Path) -> list[str]:
    """The top-level file names of the download (a zip or a folder), hidden and system files aside."""
    if Path(container).is_dir():
        return sorted(p.name for p in Path(container).iterdir() if not p.name.startswith(".") and not p.is_dir())
    with zipfile.ZipFile(container) as archive:
        return sorted(n for n in archive.namelist() if "/" not in n.rstrip("/") and not n.endswith("/")
                      and not n.startswith("."))


def looks_like(files: list[str]) -> bool:
    """Whether most top-level files follow Canvas's naming scheme."""
    return bool(files) and sum(bool(NAME.fullmatch(f)) for f in files) * 2 > len(files)


def read(container: Path) -> tuple[list[Incoming], list[str]]:
    """One :class:`Incoming` per Canvas user id, and report lines (files outside the scheme, superseded uploads)."""
    report: list[str] = []
    by_user: dict[str, list[tuple[int, str, re.Match]]] = {}
    for member in members(container):
        m = NAME.fullmatch(member)
        if not m:
            report.append(f"skipped: {member} is not named as Canvas names submitted files "
                          f"(<name>_<user id>_<attachment id>_<file>)")
            continue
        by_user.setdefault(m["user"], []).append((int(m["attachment"]), member, m))
    found = []
    for user, files in sorted(by_user.items()):
        files.sort()
        newest = files[-1][2]
        item = Incoming(user, Part(Path(container)), "canvas", site_id=user, name=newest["name"],
                        late=any(m["late"] for _, _, m in files))
        chosen: dict[str, tuple[int, str, re.Match]] = {}
        for attachment, member, m in files:
            question = names.canonical(m["file"])
            key = question or m["file"]
            if key in chosen:
                older = chosen[key]
                item.notes.append(f"two uploads for {key}: took the newer, {m['file']}")
                report.append(f"duplicate: {user}: {SITE} holds {older[2]['file']} (attachment {older[0]}) and "
                              f"{m['file']} (attachment {attachment}) for {key}: took the newer upload")
            chosen[key] = (attachment, member, m)
        loose = [member for _, member, m in chosen.values() if names.canonical(m["file"])]
        zips = sorted((a, member) for a, member, m in chosen.values() if m["file"].lower().endswith(".zip"))
        if not loose and zips:
            item.source = Part(Path(container), nested=zips[-1][1])
            if len(zips) > 1:
                line = f"{len(zips)} zips uploaded: graded the newest, {zips[-1][1]}"
                item.notes.append(line)
                report.append(f"duplicate: {user}: {line}")
        else:
            item.source = Part(Path(container), names=tuple(sorted(member for _, member, _ in chosen.values())))
        found.append(item)
    return found, report
