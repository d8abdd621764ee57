"""The class roster (``--roster CSV``): who each course-site id is.

Any CSV with a header row works, comma, semicolon or tab separated, so a course site's own export can be used as it
is. Columns are recognised by name, case and spacing aside:

- ``name`` (also ``student``, ``full name``, or ``first name`` with ``last name``), ``email``, ``sis_id`` (also
  ``sis user id``, ``sid``, ``student id``);
- the ids a submission may carry: ``id`` (Canvas's user id), ``github`` (also ``github username``, ``login``),
  ``identifier`` and ``sis login id``; ``email`` and ``sis_id`` are ids too.

A submission belongs to the row that holds any of its ids (a Canvas user id, a Gradescope SID or email, a GitHub
username, a folder's name). Rows without any id (Canvas's "Points Possible" row) are skipped.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

MAX_BYTES = 16 << 20
_ALIASES = {
    "name": "name", "student": "name", "full_name": "name", "student_name": "name",
    "first_name": "first_name", "last_name": "last_name",
    "email": "email", "email_address": "email", "e_mail": "email",
    "sis_id": "sis_id", "sis_user_id": "sis_id", "sid": "sis_id", "student_id": "sis_id",
    "id": "id", "user_id": "id", "canvas_id": "id", "canvas_user_id": "id",
    "github": "github", "github_username": "github", "login": "github", "username": "github",
    "identifier": "identifier", "sis_login_id": "login_id",
}
ID_FIELDS = ("id", "github", "identifier", "login_id", "email", "sis_id")


class RosterError(ValueError):
    """A roster that cannot be read; the message names the file and what is wrong."""


@dataclass
class Person:
    name: str = ""
    email: str = ""
    sis_id: str = ""
    keys: set[str] = field(default_factory=set)  # every id of the row, as :func:`key` gives it
    row: int = 0  # line in the file, for messages


def key(value: str) -> str:
    """An id as rosters and sites are compared: trimmed, case-folded (emails and usernames ignore case)."""
    return value.strip().casefold()


def _column(header: str) -> str:
    return _ALIASES.get(re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_"), "")


def read(path: Path) -> list[Person]:
    """The roster's rows, each with at least one id."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RosterError(f"the roster {path} cannot be read ({exc.strerror})") from None
    if len(data) > MAX_BYTES:
        raise RosterError(f"the roster {path} is larger than {MAX_BYTES >> 20} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RosterError(f"the roster {path} is not UTF-8 text; save it as CSV (UTF-8)") from None
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count)
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows:
        raise RosterError(f"the roster {path} is empty")
    columns = [_column(h) for h in rows[0]]
    if not any(c in ID_FIELDS for c in columns):
        raise RosterError(f"the roster {path} has no id column: its header is {', '.join(rows[0][:8])!r}; name one "
                          f"column id, email, sis_id or github (README, \"Submissions\")")
    people = []
    for number, row in enumerate(rows[1:], 2):
        cells = {}
        for column, value in zip(columns, row):
            if column and value.strip() and column not in cells:
                cells[column] = value.strip()
        name = cells.get("name") or " ".join(v for v in (cells.get("first_name"), cells.get("last_name")) if v)
        keys = {key(cells[c]) for c in ID_FIELDS if c in cells}
        if keys:
            people.append(Person(name, cells.get("email", ""), cells.get("sis_id", ""), keys, number))
    return people


def index(people: list[Person]) -> tuple[dict[str, Person], list[str]]:
    """``{id: person}`` over every id of every row, and a message for each id two rows share (both are kept out of
    the index, so neither row is guessed)."""
    found: dict[str, Person] = {}
    clashes: dict[str, list[int]] = {}
    for person in people:
        for k in person.keys:
            if k in found and found[k] is not person:
                clashes.setdefault(k, [found[k].row]).append(person.row)
            found[k] = person
    for k in clashes:
        del found[k]
    return found, [f"roster: id {k!r} is on rows {', '.join(map(str, rows))}; it matches no one"
                   for k, rows in sorted(clashes.items())]
