"""Gradescope's "Export Submissions": a zip (or the folder it unzips to) holding ``assignment_<id>_export/`` with
one ``submission_<id>/`` folder per submission and ``submission_metadata.yml``, which Gradescope writes from Ruby:

    submission_123456:
      :submitters:
      - :name: Jane Doe
        :sid: '12345'
        :email: jane@example.edu
      :created_at: 2025-03-01 22:14:05.123456000 -08:00
      :score: 40.0

A submission's id is its first submitter's SID, else their email, else the folder name; a group submission is
graded once, under that id, with every member listed. Two submissions for one id: the later ``:created_at`` is
graded and the other left out, said in the report; a folder the metadata does not list is still graded.
"""

from __future__ import annotations

import re
import zipfile
from datetime import datetime
from pathlib import Path

import yaml

from grader.intake.incoming import Incoming
from grader.intake.submission import Part

METADATA = "submission_metadata.yml"
MAX_METADATA_BYTES = 32 << 20


class ExportError(ValueError):
    """The export's metadata cannot be read; the message says why."""


class _Loader(yaml.SafeLoader):
    """A safe loader that reads Ruby's tagged objects (``!ruby/object:...``) as plain maps, lists and strings."""


def _untagged(loader, suffix, node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_Loader.add_multi_constructor("!", _untagged)
_Loader.add_multi_constructor("tag:yaml.org,2002:ruby", _untagged)
_TIME = re.compile(r"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:\.(\d+))?\s*(Z|[+-]\d\d:?\d\d)?")


def metadata_root(names: list[str]) -> str | None:
    """The folder (``""`` or ``"assignment_1_export/"``) holding the metadata file, or None."""
    roots = sorted(n[:-len(METADATA)] for n in names if n.endswith(METADATA) and n[:-len(METADATA)].count("/") <= 1
                   and (n == METADATA or n.endswith("/" + METADATA)))
    return roots[0] if roots else None


def parse_time(value) -> datetime | None:
    """``:created_at`` as an aware datetime (YAML may already have read it as one), or None."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.astimezone()
    m = _TIME.fullmatch(str(value).strip()) if value is not None else None
    if not m:
        return None
    zone = (m[4] or "").replace("Z", "+00:00")
    zone = zone[:3] + ":" + zone[3:] if zone and ":" not in zone else zone
    moment = datetime.fromisoformat(f"{m[1]}T{m[2]}.{(m[3] or '0')[:6].ljust(6, '0')}{zone}")
    return moment if moment.tzinfo else moment.astimezone()


def _listing(container: Path) -> list[str]:
    if container.is_dir():
        out = []
        for path in container.iterdir():
            out.append(path.name + ("/" if path.is_dir() else ""))
            if path.is_dir() and not path.name.startswith("."):
                out += [f"{path.name}/{p.name}" + ("/" if p.is_dir() else "") for p in path.iterdir()]
        return out
    with zipfile.ZipFile(container) as archive:
        return archive.namelist()


def _metadata_text(container: Path, root: str) -> bytes:
    if container.is_dir():
        path = container / root / METADATA
        if path.stat().st_size > MAX_METADATA_BYTES:
            raise ExportError(f"{METADATA} is larger than {MAX_METADATA_BYTES >> 20} MB")
        return path.read_bytes()
    with zipfile.ZipFile(container) as archive:
        info = archive.getinfo(root + METADATA)
        if info.file_size > MAX_METADATA_BYTES:
            raise ExportError(f"{METADATA} is larger than {MAX_METADATA_BYTES >> 20} MB")
        with archive.open(info) as f:
            return f.read(MAX_METADATA_BYTES + 1)[:MAX_METADATA_BYTES]


def looks_like(container: Path) -> bool:
    return metadata_root(_listing(container)) is not None


def read(container: Path) -> tuple[list[Incoming], list[str]]:
    """One :class:`Incoming` per submission folder, and report lines; :class:`ExportError` if the metadata is bad."""
    container = Path(container)
    listing = _listing(container)
    root = metadata_root(listing)
    if root is None:
        raise ExportError(f"{container.name} holds no {METADATA}")
    try:
        metadata = yaml.load(_metadata_text(container, root), Loader=_Loader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        raise ExportError(f"{root}{METADATA} is not readable YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(metadata, dict):
        raise ExportError(f"{root}{METADATA} is not a map of submission folders to their submitters")
    folders = sorted({n[len(root):].split("/")[0] for n in listing
                      if n.startswith(root) and "/" in n[len(root):] and not n[len(root):].startswith(".")})
    report: list[str] = []
    found: dict[str, Incoming] = {}
    for folder in folders:
        entry = metadata.get(folder)
        entry = entry if isinstance(entry, dict) else {}
        people = [p for p in entry.get(":submitters") or [] if isinstance(p, dict)] if isinstance(
            entry.get(":submitters"), list) else []
        members = [{"name": str(p.get(":name") or ""), "email": str(p.get(":email") or ""),
                    "sis_id": str(p.get(":sid") or "")} for p in people]
        first = members[0] if members else {"name": "", "email": "", "sis_id": ""}
        student_id = first["sis_id"] or first["email"] or folder
        source = container / root / folder if container.is_dir() else Part(container, prefix=f"{root}{folder}/")
        item = Incoming(student_id, source, "gradescope", site_id=folder, name=first["name"], email=first["email"],
                        sis_id=first["sis_id"], submitted_at=parse_time(entry.get(":created_at")), members=members)
        if not entry:
            item.notes.append(f"{folder} is not in {METADATA}: graded under its folder name")
            report.append(f"unknown: {folder} is not in {METADATA}; graded as {folder!r}")
        if len(members) > 1:
            item.notes.append("group submission: " + ", ".join(m["name"] or m["email"] or m["sis_id"] for m in members))
        if student_id in found:
            other = found[student_id]
            newer, older = (item, other) if (item.submitted_at or datetime.min.astimezone()) >= (
                other.submitted_at or datetime.min.astimezone()) else (other, item)
            line = (f"two submissions for {student_id}: {other.site_id} and {folder}; graded the later, "
                    f"{newer.site_id}" + (f" ({newer.submitted_at.isoformat(timespec='minutes')})"
                                          if newer.submitted_at else ""))
            newer.notes += older.notes + [line]
            report.append(f"duplicate: {line}")
            found[student_id] = newer
            continue
        found[student_id] = item
    for key in sorted(k for k in metadata if isinstance(k, str) and k not in folders):
        report.append(f"missing: {METADATA} lists {key}, but the export has no folder {root}{key}/")
    return list(found.values()), report
