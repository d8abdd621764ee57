"""``OUT/<id>/intake.json``: who a graded submission is and how late it was, written after every run (grading or
cache hit alike), so a new roster or late policy never needs a regrade. The reports read it through
:func:`late_line`, :func:`penalty` and :func:`notes`.

    {"student_id": ..., "site": "canvas", "site_id": ..., "name": ..., "email": ..., "sis_id": ...,
     "submitted_at": "2025-03-02T01:10:00-05:00" | null, "late": true | false | null, "members": [...],
     "notes": [...], "in_roster": true | false | null,
     "deadline": ISO | null, "policy": "...", "lateness": {"late", "days", "fraction", "zero", "line"}}
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from grader.files import atomic_write_text
from grader.intake import deadline as deadlines

FILE = "intake.json"
SITES = {"canvas": "Canvas", "gradescope": "Gradescope", "classroom": "GitHub Classroom", "folders": "the folder"}


def write(out: Path, intake, due: datetime | None, policy: deadlines.LatePolicy) -> list[str]:
    """Write ``intake.json`` for every id of ``intake`` graded in ``out``; return the ids whose file changed."""
    changed = []
    for sid, item in intake.items.items():
        folder = Path(out) / sid
        if not folder.is_dir():
            continue
        lateness = deadlines.assess(item.submitted_at, item.late, due, policy, SITES.get(item.site, item.site))
        data = {**item.record(), "deadline": due.isoformat() if due else None, "policy": policy.describe(),
                "lateness": asdict(lateness)}
        text = json.dumps(data, indent=1, ensure_ascii=False)
        try:
            if (folder / FILE).read_text(encoding="utf-8") == text:
                continue
        except OSError:
            pass
        atomic_write_text(folder / FILE, text)
        changed.append(sid)
    return changed


def load(sub_dir: Path) -> dict:
    """The submission's intake.json, or ``{}`` (graded before intake records existed, or unreadable)."""
    try:
        data = json.loads((Path(sub_dir) / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _lateness(data: dict) -> dict:
    lateness = data.get("lateness")
    return lateness if isinstance(lateness, dict) else {}


def penalty(sub_dir: Path, score: float, max_score: float) -> float:
    """Points the late policy takes from ``score``: 0 when on time or unknown."""
    lateness = _lateness(load(sub_dir))
    fraction = lateness.get("fraction")
    fraction = float(fraction) if isinstance(fraction, (int, float)) and 0 <= fraction <= 1 else 0.0
    return deadlines.Lateness(None, fraction=fraction, zero=lateness.get("zero") is True).penalty(score, max_score)


def late_line(sub_dir: Path) -> str:
    """The one sentence about lateness for the feedback and the gradebook note, or ``""``."""
    line = _lateness(load(sub_dir)).get("line")
    return line if isinstance(line, str) else ""


def late_note(sub_dir: Path) -> str:
    """The gradebook note's short phrase about lateness ("late 2 days: -20%"), or ``""``."""
    note = _lateness(load(sub_dir)).get("note")
    return note if isinstance(note, str) else ""


def notes(sub_dir: Path) -> list[str]:
    """What the intake noted for the instructor: duplicates, unknown students, missing times."""
    return [n for n in load(sub_dir).get("notes") or [] if isinstance(n, str)]
