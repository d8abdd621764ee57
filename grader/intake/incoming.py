"""What the intake knows about one submission, whatever course site it came from (grader.intake.collect)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from grader.intake.submission import Part


@dataclass
class Incoming:
    """One submission: ``student_id`` is its stable id (its folder in OUT), ``source`` what
    :func:`grader.intake.submission.prepare` reads. ``late`` is what the site says (None: it says nothing)."""

    student_id: str
    source: Path | Part
    site: str  # "folders", "canvas", "gradescope" or "classroom"
    site_id: str = ""  # the id the site knows the student by
    name: str = ""
    email: str = ""
    sis_id: str = ""
    submitted_at: datetime | None = None
    late: bool | None = None
    members: list[dict] = field(default_factory=list)  # everyone on a group submission: name, email, sis_id
    notes: list[str] = field(default_factory=list)  # for the instructor: duplicates, roster mismatches
    in_roster: bool | None = None  # None: no roster given

    def record(self) -> dict:
        """As stored in ``OUT/<id>/intake.json``."""
        return {"student_id": self.student_id, "site": self.site, "site_id": self.site_id, "name": self.name,
                "email": self.email, "sis_id": self.sis_id,
                "submitted_at": self.submitted_at.isoformat() if self.submitted_at else None,
                "late": self.late, "members": self.members, "notes": self.notes, "in_roster": self.in_roster}
