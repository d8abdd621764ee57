"""Turn one student submission (a directory or a ``.zip``) into a directory the sandboxed worker can import.

Nothing here runs student code: modules are decoded and compiled, never executed, and notebooks are parsed with
nbformat and cut down to their imports, definitions and constant assignments. Only files named after the
questions (grader.registry) are ever read, so whatever else a student sends (``numpy.py``, ``conftest.py``, ``sitecustomize.py``,
``*.pth``) never reaches the worker. Zip members are read straight from the archive with a byte counter; nothing is
extracted. Every problem with one question is recorded for that question and the rest is still graded; only a
submission that cannot be opened at all raises ``SubmissionError``.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import hashlib
import json
import os
import re
import stat
import threading
import warnings
import zipfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

from grader import registry
from grader.intake import names

# Files the command line writes in its output directory, beside one folder per student id.
RESERVED_IDS = frozenset({"gradebook.csv", "junit.xml", "written", "similarity.html"})
# Operating-system and tool litter, skipped silently: hidden names (.DS_Store, .ipynb_checkpoints, .git) and these.
_LITTER = {"__MACOSX", "__pycache__"}
_CHUNK = 1 << 16
# A student id is a folder name in OUT and a cell in every report; longer names are cut and marked (student_id_for).
MAX_ID_BYTES = 120
_LISTED = 10
# IPython's transformer re-tokenizes the whole cell once per magic or escape it rewrites (and a few times more), at
# about 3.5 us per character each time: a 107 KB cell with a few hundred magics took 194 s. A notebook may spend at
# most this many characters x passes on it (2-4 s on 2 loaded cores); each line that could be IPython syntax costs
# a pass.
TRANSFORM_BUDGET = 500_000
_IPYTHON_LINE = re.compile(r"^\s*(?:[%!?,;/]|[\w.,\[\]()* ]+=\s*[%!])|\?\s*$")
# The warning filters are process-wide and the command line prepares submissions in threads, so every change to
# them here happens under this lock; otherwise one student's compiler warnings could land in another's notes.
_WARNINGS_LOCK = threading.Lock()
# Names a module has before any of its own code runs; constants may use them.
_PREDEFINED = frozenset(dir(builtins)) | {"__name__", "__file__", "__doc__", "__spec__", "__loader__", "__package__",
                                          "__builtins__"}


@dataclass(frozen=True)
class Part:
    """One student's share of a course-site download (grader.intake.collect): in the zip or folder ``container``,
    the members under ``prefix`` (a folder per submission), or the top-level members ``names`` (Canvas's flat
    files), or the one member ``nested`` that is itself the student's zip."""

    container: Path
    prefix: str = ""
    names: tuple[str, ...] = ()
    nested: str = ""

    @property
    def name(self) -> str:
        return self.nested or self.prefix.rstrip("/") or (self.names[0] if self.names else self.container.name)


class SubmissionError(Exception):
    """The whole submission cannot be graded (a corrupt zip, too many files); the message says why."""


@dataclass
class Prepared:
    """One submission, normalised. ``notes`` and ``markdown`` have a (possibly empty) list for every stem."""

    student_id: str
    root: Path
    sources: dict[str, str]
    notes: dict[str, list[str]]
    errors: dict[str, str]
    general: list[str]
    digest: str
    markdown: dict[str, list[dict]] = field(default_factory=dict)


class Discovered(list):
    """What ``discover`` returns: a sorted list of ``(student_id, path)``; ``skipped`` explains each entry left out
    and ``renamed`` each entry graded under an id other than its name."""

    def __init__(self, found=(), skipped=(), renamed=()):
        super().__init__(found)
        self.skipped: list[str] = list(skipped)
        self.renamed: list[str] = list(renamed)


def printable(name: str) -> str:
    """``name`` safe to print in any report: an undecodable byte (a surrogate from ``os.scandir``) becomes ``\\xNN``,
    a control or other non-printable character ``\\xNN`` or ``\\uNNNN``."""
    if name.isprintable():
        return name
    out = []
    for ch in name:
        code = ord(ch)
        if ch.isprintable():
            out.append(ch)
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        else:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


def student_id_for(name: str) -> tuple[str, list[str]]:
    """The student id for a submission named ``name`` (without ``.zip``), and what had to change, if anything.

    An id holds only printable UTF-8, does not start with ``-`` and has at most ``MAX_ID_BYTES`` bytes. A name that
    breaks one of these becomes its printable part (other characters as ``_``), cut to fit, with ``-`` and 8 hex digits
    of a hash of the original bytes added, so that two names never share an id.
    """
    problems = []
    if any(0xDC80 <= ord(ch) <= 0xDCFF for ch in name):
        problems.append("is not valid UTF-8")
    if any(not ch.isprintable() and not 0xDC80 <= ord(ch) <= 0xDCFF for ch in name):
        problems.append("holds control or non-printable characters")
    if name.startswith("-"):
        problems.append("starts with a dash")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_ID_BYTES:
        problems.append(f"is longer than {MAX_ID_BYTES} bytes")
    if not problems:
        return name, []
    text = "".join(ch if ch.isprintable() else "_" for ch in name)
    text = "_" + text[1:] if text.startswith("-") else text
    text = text.encode()[:MAX_ID_BYTES - 9].decode("utf-8", "ignore")
    tag = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{text}-{tag}", problems


def discover(submissions_dir: Path) -> Discovered:
    """One ``(student_id, path)`` per subdirectory or ``*.zip`` in ``submissions_dir``, sorted by id.

    Hidden entries are ignored silently. Other files, symbolic links and a zip whose id already names a directory are
    left out with a message in the result's ``skipped`` list. A name no report could hold (not UTF-8, control
    characters, a leading dash, too long) is graded under the id :func:`student_id_for` gives it, with a message in
    ``renamed``.
    """
    found: dict[str, Path] = {}
    skipped, renamed = [], []
    with os.scandir(submissions_dir) as listing:
        entries = sorted(listing, key=lambda entry: entry.name)
    for entry in entries:
        name = printable(entry.name)
        if name.startswith("."):
            continue
        if entry.is_symlink():
            skipped.append(f"{name}: skipped, it is a symbolic link (not followed)")
            continue
        if entry.is_dir():
            student_id, problems = student_id_for(entry.name)
        elif entry.is_file() and name.lower().endswith(".zip"):
            student_id, problems = student_id_for(entry.name[:-4])
        else:
            skipped.append(f"{name}: skipped, it is neither a directory nor a .zip file")
            continue
        if student_id in found:
            skipped.append(f"{name}: skipped, {printable(found[student_id].name)}/ already holds student "
                           f"{student_id!r}")
            continue
        if student_id in RESERVED_IDS:
            skipped.append(f"{name}: skipped, the grader writes its own {student_id} next to the submissions' "
                           f"folders; rename the submission")
            continue
        if problems:
            shown = name if len(name) <= 80 else name[:79] + "…"
            renamed.append(f"{shown}: graded as {student_id!r}, since the name {' and '.join(problems)}")
        found[student_id] = Path(entry.path)
    return Discovered(sorted(found.items()), skipped, renamed)


def prepare(path: Path, student_id: str, work_dir: Path, *, max_file_bytes: int = 2 << 20,
            max_notebook_bytes: int = 16 << 20, max_zip_bytes: int = 64 << 20, max_members: int = 2000) -> Prepared:
    """Read the question files of the submission at ``path`` and write ``work_dir / "submission"``.

    ``max_file_bytes`` bounds a module (and the code kept from a notebook); ``max_notebook_bytes`` bounds a notebook
    file, whose stored outputs (plots) make it larger than its code; ``max_zip_bytes`` bounds a zip on disk;
    ``max_members`` bounds the entries of a zip or directory tree. ``work_dir / "submission"`` must not exist yet.
    """
    work_dir = Path(work_dir)
    limits = {".py": max_file_bytes, ".ipynb": max_notebook_bytes}
    if isinstance(path, Part):
        return _prepare_part(path, student_id, work_dir, limits, max_file_bytes, max_zip_bytes, max_members)
    path = Path(path)
    shown = printable(path.name)
    if path.is_dir():
        entries, general = _scan_directory(path, max_members)
        return _prepare_entries(entries, general, student_id, work_dir, limits, max_file_bytes)
    if not path.is_file():
        raise SubmissionError(f"{shown} is neither a directory nor a .zip file")
    size = path.stat().st_size
    if size > max_zip_bytes:
        raise SubmissionError(f"{shown} is {_size(size)}; the limit for a zip is {_size(max_zip_bytes)}")
    archive = _open_zip(path, shown)
    return _prepare_zip(archive, archive.infolist(), shown, student_id, work_dir, limits, max_file_bytes, max_members)


def _open_zip(source, shown: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise SubmissionError(f"{shown} is not a readable zip archive ({reason}); "
                              f"re-create it with a standard zip tool") from None


def _prepare_zip(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], shown: str, student_id: str, work_dir: Path,
                 limits: dict[str, int], max_code_bytes: int, max_members: int) -> Prepared:
    with archive:
        if len(infos) > max_members:
            raise SubmissionError(f"{shown} holds {len(infos)} entries; the limit is {max_members}. "
                                  f"Submit only the question files")
        entries, general = _scan_zip(archive, infos)
        return _prepare_entries(entries, general, student_id, work_dir, limits, max_code_bytes)


def _prepare_part(part: Part, student_id: str, work_dir: Path, limits: dict[str, int], max_code_bytes: int,
                  max_zip_bytes: int, max_members: int) -> Prepared:
    container = Path(part.container)
    if part.nested:
        return _prepare_nested(part, student_id, work_dir, limits, max_code_bytes, max_zip_bytes, max_members)
    if container.is_dir():
        if part.prefix:
            entries, general = _scan_directory(container / part.prefix, max_members)
        else:
            entries, general = [_Entry(printable(name), _kind(container / name),
                                       _file_reader(container / name, _kind(container / name)))
                                for name in sorted(part.names)], []
        return _prepare_entries(entries, general, student_id, work_dir, limits, max_code_bytes)
    archive = _open_zip(container, printable(container.name))
    wanted, infos = set(part.names), []
    for info in archive.infolist():
        if part.prefix and info.filename.startswith(part.prefix) and info.filename != part.prefix:
            info.filename = info.filename[len(part.prefix):]  # reading checks the header against orig_filename
            infos.append(info)
        elif not part.prefix and info.filename in wanted:
            infos.append(info)
    return _prepare_zip(archive, infos, printable(part.name), student_id, work_dir, limits, max_code_bytes,
                        max_members)


def _prepare_nested(part: Part, student_id: str, work_dir: Path, limits: dict[str, int], max_code_bytes: int,
                    max_zip_bytes: int, max_members: int) -> Prepared:
    """A zip the student uploaded, stored inside the course site's zip (or folder): read whole, within
    ``max_zip_bytes``, then treated as any other zip submission."""
    import io

    container, shown = Path(part.container), printable(part.nested)
    try:
        if container.is_dir():
            data = _file_reader(container / part.nested, _kind(container / part.nested))(max_zip_bytes, shown)
        else:
            with zipfile.ZipFile(container) as outer:
                info = outer.getinfo(part.nested)
                data = _member_reader(outer, info, "file")(max_zip_bytes, shown)
    except _Unreadable as e:
        raise SubmissionError(str(e)) from None
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise SubmissionError(f"{shown} cannot be read from {printable(container.name)} ({e})") from None
    archive = _open_zip(io.BytesIO(data), shown)
    return _prepare_zip(archive, archive.infolist(), shown, student_id, work_dir, limits, max_code_bytes, max_members)


def _kind(path: Path) -> str:
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return "file"  # the reader reports why it cannot be opened
    return "link" if stat.S_ISLNK(mode) else "dir" if stat.S_ISDIR(mode) else \
        "file" if stat.S_ISREG(mode) else "special"


class _Unreadable(Exception):
    """A question file that cannot be graded; the message is shown to the student."""


@dataclass
class _Entry:
    path: str  # relative, "/"-separated
    kind: str  # "file" | "dir" | "link" | "special"
    read: Callable[[int, str], bytes]  # (limit, name to show) -> the bytes, or _Unreadable


def _scan_directory(root: Path, max_members: int) -> tuple[list[_Entry], list[str]]:
    entries: list[_Entry] = []
    general = []
    pending = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as listing:
                children = list(listing)
        except OSError as e:
            if not prefix:
                raise SubmissionError(f"the submission folder cannot be read ({e.strerror})") from None
            general.append(f"could not read folder {prefix} ({e.strerror}); its files are ignored")
            continue
        for child in children:
            if child.name.startswith(".") or child.name in _LITTER:
                continue
            if len(entries) == max_members:
                raise SubmissionError(f"the submission holds more than {max_members} files and folders; "
                                      f"submit only the question files")
            relative = prefix + printable(child.name)
            if child.is_symlink():
                kind = "link"
            elif child.is_dir(follow_symlinks=False):
                kind = "dir"
                pending.append((Path(child.path), relative + "/"))
            elif child.is_file(follow_symlinks=False):
                kind = "file"
            else:
                kind = "special"
            entries.append(_Entry(relative, kind, _file_reader(Path(child.path), kind)))
    return sorted(entries, key=lambda entry: entry.path), general


def _file_reader(path: Path, kind: str) -> Callable[[int, str], bytes]:
    def read(limit: int, shown: str) -> bytes:
        if kind == "special":  # opening a device can have effects of its own
            raise _Unreadable(f"{shown} is not a regular file")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            if os.path.islink(path):
                raise _Unreadable(f"{shown} is a symbolic link; the grader does not follow links, "
                                  f"so submit the file itself") from None
            raise _Unreadable(f"{shown} cannot be opened ({e.strerror})") from None
        with open(fd, "rb", buffering=0) as f:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise _Unreadable(f"{shown} is not a regular file")
            if info.st_size > limit:
                raise _Unreadable(f"{shown} is {_size(info.st_size)}; the limit is {_size(limit)}")
            data = _read_capped(f, limit)
        if data is None:
            raise _Unreadable(f"{shown} grew past {_size(limit)} while it was read; the limit is {_size(limit)}")
        return data

    return read


def _scan_zip(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> tuple[list[_Entry], list[str]]:
    entries = []
    unsafe = []
    for info in infos:
        name = printable(info.filename.replace("\\", "/"))
        parts = [part for part in name.split("/") if part not in ("", ".")]
        if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
            unsafe.append(f"{printable(info.filename)} (absolute path)")
            continue
        if ".." in parts:
            unsafe.append(f"{printable(info.filename)} (path leaves the archive)")
            continue
        if not parts or any(part.startswith(".") or part in _LITTER for part in parts):
            continue
        mode = info.external_attr >> 16
        if info.is_dir() or stat.S_ISDIR(mode):
            kind = "dir"
        elif stat.S_ISLNK(mode):
            kind = "link"
        elif stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            kind = "special"
        else:
            kind = "file"
        entries.append(_Entry("/".join(parts), kind, _member_reader(archive, info, kind)))
    general = [f"skipped unsafe zip entries: {_listing(unsafe)}"] if unsafe else []
    return sorted(entries, key=lambda entry: entry.path), general  # stable: a repeated name keeps its order


def _member_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo, kind: str) -> Callable[[int, str], bytes]:
    def read(limit: int, shown: str) -> bytes:
        if kind == "link":
            raise _Unreadable(f"{shown} is stored in the zip as a symbolic link; the grader does not follow links, "
                              f"so zip the file itself")
        if kind != "file":
            raise _Unreadable(f"{shown} is stored in the zip as a special file, not a regular file")
        if info.flag_bits & 0x1:
            raise _Unreadable(f"{shown} is encrypted; submit a zip without a password")
        if info.file_size > limit:
            raise _Unreadable(f"{shown} is {_size(info.file_size)} uncompressed; the limit is {_size(limit)}")
        try:
            with archive.open(info) as f:
                data = _read_capped(f, limit)
        except Exception as e:  # zlib, bz2 and lzma each raise their own errors on corrupt data
            raise _Unreadable(f"{shown} cannot be decompressed ({type(e).__name__}: {e}); "
                              f"re-create the zip with a standard zip tool") from None
        if data is None:
            raise _Unreadable(f"{shown} decompresses to more than {_size(limit)} although the zip says "
                              f"{_size(info.file_size)}; the limit is {_size(limit)}")
        return data

    return read


def _read_capped(f, limit: int) -> bytes | None:
    """All of ``f`` if it holds at most ``limit`` bytes, else None; never reads more than ``limit + 1`` bytes."""
    chunks, total = [], 0
    while True:
        chunk = f.read(min(_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            return None


def _prepare_entries(entries: list[_Entry], general: list[str], student_id: str, work_dir: Path,
                     limits: dict[str, int], max_code_bytes: int) -> Prepared:
    chosen, duplicates, ignored, links, layout_notes, taken, ambiguous = _select(entries)
    general = general + layout_notes
    sources, notes, errors, files = {}, {stem: [] for stem in registry.stems()}, {}, {}
    markdown: dict[str, list[dict]] = {stem: [] for stem in registry.stems()}
    for stem in registry.stems():
        module, notebook = chosen.get(stem + ".py"), chosen.get(stem + ".ipynb")
        for name in sorted(duplicates.get(stem, ())):
            notes[stem].append(f"{name} appears more than once in the zip: graded the last copy")
        clash = ambiguous.get(stem + ".py") or ambiguous.get(stem + ".ipynb")
        if clash:
            kind = stem + (".py" if stem + ".py" in ambiguous else ".ipynb")
            sources[stem] = "unreadable"
            errors[stem] = (f"{len(clash)} files could be {kind}: {_listing(clash)}; the grader cannot tell which "
                            f"one you meant, so it graded none of them. Submit exactly one {kind}")
            continue
        for name in (stem + ".py", stem + ".ipynb"):
            if name in taken:
                notes[stem].append(f"took {taken[name]} as {name}")
        if module is None and notebook is None:
            sources[stem] = "missing"
            near = [path for path in ignored + links if _looks_like(path, stem)]
            if near:
                notes[stem].append(f"no {stem}.py or {stem}.ipynb found; ignored {_listing(near)}: question files "
                                   f"must be named exactly {stem}.py or {stem}.ipynb and sit at the top level "
                                   f"of the submission or inside one folder")
            continue
        if module is not None and notebook is not None:
            notes[stem].append(f"found both {stem}.py and {stem}.ipynb: graded the .py module "
                               f"(Markdown answers are still read from the notebook)")
        nb = None
        if notebook is not None:
            try:
                shown = stem + ".ipynb"
                nb, format_notes = _read_notebook(_decode(notebook.read(limits[".ipynb"], shown), shown), shown)
                markdown[stem] = _markdown_cells(nb)
                if module is None:
                    notes[stem] += format_notes
            except _Unreadable as e:
                if module is None:
                    sources[stem], errors[stem] = "unreadable", str(e)
                    continue
                notes[stem].append(f"the notebook could not be read for Markdown answers: {e}")
        try:
            if module is not None:
                text = _decode(module.read(limits[".py"], stem + ".py"), stem + ".py")
                notes[stem] += _check_compiles(text, stem + ".py")
                sources[stem] = "module"
            else:
                text, cell_notes = _notebook_module(nb, stem + ".ipynb", max_code_bytes)
                notes[stem] += cell_notes
                sources[stem] = "notebook"
                if re.search(rf"^\s*(from\s+{stem}\s+import|import\s+{stem}\b)", text, re.MULTILINE):
                    notes[stem].append(f"{stem}.ipynb imports {stem}, the module you write your code in, but "
                                       f"{stem}.py is not in the submission: hand in {stem}.py as well")
        except _Unreadable as e:
            sources[stem], errors[stem] = "unreadable", str(e)
            continue
        files[stem + ".py"] = text.encode("utf-8")

    if ignored:
        general.append(f"ignored {len(ignored)} other file{'s' * (len(ignored) != 1)}: {_listing(ignored)} "
                       f"— only the question files are graded")
    if links:
        general.append(f"skipped {len(links)} symbolic link{'s' * (len(links) != 1)} or special "
                       f"file{'s' * (len(links) != 1)} (never followed): {_listing(links)}")
    if not chosen and not layout_notes:
        general.append(f"no question files found (expected {registry.stems()[0]}.py … {registry.stems()[-1]}.py or the same names "
                       f"with .ipynb)")

    root = work_dir / "submission"
    root.mkdir(parents=True)
    for name, data in files.items():
        (root / name).write_bytes(data)
        (root / name).chmod(0o644)
    return Prepared(student_id, root, sources, notes, errors, general, _digest(files, errors, markdown), markdown)


def _select(entries: list[_Entry]):
    """Pick the question files: at the top level if any is there, else inside the one folder that holds them.

    A file counts for a question under its own name or a name a course site gives it (grader.intake.names).
    ``chosen`` maps ``<stem>.py``/``<stem>.ipynb`` to its entry, ``taken`` each one taken under another name to that
    name, and ``ambiguous`` each one that two different files could be to their paths.
    """
    named = [entry for entry in entries if entry.kind != "dir" and names.canonical(entry.path.rsplit("/", 1)[-1])]
    layout_notes = []
    if any("/" not in entry.path for entry in named):
        base = ""
    else:
        folders = sorted({entry.path.split("/")[0] for entry in named if entry.path.count("/") == 1})
        base = folders[0] + "/" if len(folders) == 1 else None
        if len(folders) > 1:
            layout_notes.append(f"question files are in several folders ({', '.join(f + '/' for f in folders)}); "
                                f"graded none of them: put them at the top level or inside one folder")
    candidates: dict[str, dict[str, _Entry]] = {}
    duplicates: dict[str, set[str]] = {}
    ignored, links = [], []
    for entry in entries:
        if entry.kind == "dir":
            continue
        rest = entry.path[len(base):] if base is not None and entry.path.startswith(base) else None
        name = names.canonical(rest) if rest is not None and "/" not in rest else None
        if name:
            paths = candidates.setdefault(name, {})
            if entry.path in paths:
                duplicates.setdefault(name.rsplit(".", 1)[0], set()).add(entry.path)
            paths[entry.path] = entry
        elif entry.kind in ("link", "special"):
            links.append(entry.path)
        else:
            ignored.append(entry.path)
    chosen: dict[str, _Entry] = {}
    taken: dict[str, str] = {}
    ambiguous: dict[str, list[str]] = {}
    for name, paths in candidates.items():
        if len(paths) > 1:
            ambiguous[name] = sorted(paths)
            continue
        (path, entry), = paths.items()
        chosen[name] = entry
        if path[len(base):] != name:
            taken[name] = path
    return chosen, duplicates, ignored, links, layout_notes, taken, ambiguous


def _looks_like(path: str, stem: str) -> bool:
    """Whether an ignored file is probably a misnamed or misplaced ``stem`` file (``Q1_Expressivity.py``, ...)."""
    name = path.rsplit("/", 1)[-1].lower()
    prefix = stem.split("_")[0]
    return (name.startswith(prefix) and not name[len(prefix):len(prefix) + 1].isdigit()
            and (".py" in name or ".ipynb" in name))


def _decode(data: bytes, shown: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        hint = " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise _Unreadable(f"{shown} is not UTF-8{hint}: byte 0x{data[e.start]:02x} at offset {e.start} (line {line}) "
                          f"cannot be decoded; save the file as UTF-8") from None
    text = text.removeprefix("\ufeff")
    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        raise _Unreadable(f"{shown} contains a NUL byte on line {line}; save it as plain UTF-8 text")
    return text


def _check_compiles(text: str, shown: str, *, flags: int = 0, line_of: Callable[[int], int] = lambda n: n) -> list[str]:
    """Compile (never run) ``text``; raise ``_Unreadable`` on a syntax error, return compiler warnings as notes."""
    with _warnings("always") as caught:
        try:
            compile(text, shown, "exec", flags=flags, dont_inherit=True)
        except SyntaxError as e:
            raise _Unreadable(_syntax_message(e, shown, line_of)) from None
        except (RecursionError, MemoryError):
            raise _Unreadable(f"{shown} is nested too deeply for Python to compile") from None
    return [f"{shown} line {line_of(w.lineno)}: {w.category.__name__}: {w.message}" for w in caught
            if w.filename == shown]


@contextmanager
def _warnings(action: str):
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter(action)
        yield caught


def _syntax_message(e: SyntaxError, shown: str, line_of: Callable[[int], int]) -> str:
    where = f"syntax error in {shown}"
    if e.lineno:
        where += f" line {line_of(e.lineno)}" + (f", column {e.offset}" if e.offset else "")
    text = (e.text or "").rstrip("\n")
    if not text.strip():
        return f"{where}: {e.msg}"
    line = text.lstrip()
    start = (e.offset or 1) - 1 - (len(text) - len(line))
    end = (e.end_offset or 0) - 1 - (len(text) - len(line)) if e.end_lineno in (None, e.lineno) else len(line)
    clip = max(0, start - 40) if len(line) > 100 else 0  # a minified line can be megabytes long
    shown_line = ("…" if clip else "") + line[clip:clip + 100] + ("…" if len(line) > clip + 100 else "")
    start, end = start - clip + bool(clip), min(end, clip + 100) - clip + bool(clip)
    return f"{where}: {e.msg}\n    {shown_line}\n    {' ' * max(start, 0)}{'^' * max(end - start, 1)}"


def _read_notebook(text: str, shown: str) -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook as nbformat 4; a schema violation is only a note, since the cells are usually still usable."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise _Unreadable(f"{shown} is not valid notebook JSON: {e.msg} at line {e.lineno}, column {e.colno} "
                          f"(character {e.pos} of {len(text)}); the file may be truncated or edited by hand, "
                          f"so re-save it from Jupyter") from None
    except RecursionError:
        raise _Unreadable(f"{shown} is nested too deeply to be a notebook") from None
    if not isinstance(raw, dict) or "nbformat" not in raw:
        raise _Unreadable(f"{shown} is JSON but not a Jupyter notebook (it has no \"nbformat\" field)")
    try:
        with _warnings("ignore"):
            nb = nbformat.convert(nbformat.reader.reads(text), 4)
    except Exception as e:  # nbformat reports malformed notebooks with assorted exception types
        raise _Unreadable(f"{shown} is not a notebook nbformat can read ({type(e).__name__}: {e})") from None
    if not isinstance(nb.get("cells"), list):
        raise _Unreadable(f"{shown} has no list of cells")
    try:
        with _warnings("ignore"):
            nbformat.validate(nb)
    except nbformat.ValidationError as e:
        reason = str(getattr(e, "message", e)).split("\n")[0][:200]
        return nb, [f"{shown} does not fully follow the notebook format ({reason}); its cells were read anyway"]
    return nb, []


def _cell_source(cell) -> str | None:
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(part, str) for part in source):
        source = "".join(source)
    return source.replace("\r\n", "\n").replace("\r", "\n") if isinstance(source, str) else None


def _markdown_cells(nb) -> list[dict]:
    """Every Markdown cell with its tags; ``index`` is the 1-based cell number used in all messages."""
    cells = []
    for number, cell in enumerate(nb.cells, 1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "markdown":
            continue
        metadata = cell.get("metadata")
        tags = metadata.get("tags", []) if isinstance(metadata, dict) else []
        tags = [tag for tag in tags if isinstance(tag, str)] if isinstance(tags, list) else []
        attachments = {name: {m: d for m, d in b.items()
                              if m in {"image/png", "image/jpeg", "image/gif", "image/webp"} and isinstance(d, str)}
                       for name, b in (cell.get("attachments") or {}).items() if isinstance(b, dict)}
        entry = {"tags": tags, "source": _cell_source(cell) or "", "index": number}
        if attachments:
            entry["attachments"] = attachments
        cells.append(entry)
    return cells


def _notebook_module(nb, shown: str, max_code_bytes: int) -> tuple[str, list[str]]:
    """The code cells as one module: IPython syntax removed, then only imports, definitions and constants kept."""
    code = sum(len((_cell_source(cell) or "").encode()) for cell in nb.cells
               if isinstance(cell, dict) and cell.get("cell_type") == "code")
    if code > max_code_bytes:
        raise _Unreadable(f"the code cells of {shown} hold {_size(code)} of code; the limit is {_size(max_code_bytes)}")
    transformer = TransformerManager()
    budget = [TRANSFORM_BUDGET]
    notes, future, blocks = [], [], []
    bound, star = set(_PREDEFINED), False
    for number, cell in enumerate(nb.cells, 1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = _cell_source(cell)
        if source is None:
            notes.append(f"cell {number}: its source is not text; skipped")
            continue
        if not source.strip():
            continue
        first = next(line for line in source.split("\n") if line.strip()).strip()
        if first.startswith("%%"):
            notes.append(f"cell {number}: removed cell magic `{first}` (the whole cell is skipped)")
            continue
        python = _without_ipython_syntax(source, transformer, budget, f"{shown} cell {number}")
        line_of = _line_map(source, python) if python != source else (lambda line: line)
        where = f"{shown} cell {number}"
        notes += _check_compiles(python, where, flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, line_of=line_of)
        tree = ast.parse(python)
        lines = python.split("\n")
        original = source.split("\n")

        def removed(node: ast.stmt) -> str:
            text = original[min(line_of(node.lineno), len(original)) - 1].strip()
            kind = "shell command" if text.startswith("!") or "= !" in text or "=!" in text else "IPython magic"
            return f"cell {number}, line {line_of(node.lineno)}: removed {kind} `{text}`"

        dropped, previous_end = [], None
        for i, node in enumerate(tree.body):
            if _is_simple(node) and _uses_ipython(node):
                notes.append(removed(node))
                continue
            verdict, missing = _keep(node, bound, star)
            if verdict == "silent":
                continue
            if verdict == "drop":
                snippet = lines[_first_line(node) - 1].strip()
                snippet = snippet if len(snippet) <= 60 else snippet[:59] + "…"
                needs = f" (uses {', '.join(sorted(missing))}, which only skipped code defines)" if missing else ""
                dropped.append(f"line {line_of(_first_line(node))} `{snippet}`{needs}")
                continue
            for inner in _nested_ipython(node):
                notes.append(removed(inner))
                _blank_to_pass(lines, inner)
            new_bound, has_star = _binds(node)
            bound |= new_bound
            star = star or has_star
            start, end = _first_line(node), node.end_lineno
            siblings = tree.body[i - 1:i] + tree.body[i + 1:i + 2]
            shares_line = any(other.end_lineno == start or _first_line(other) == end for other in siblings)
            try:
                text = ast.unparse(node) if shares_line else "\n".join(lines[start - 1:end])
            except RecursionError:  # ast.unparse recurses in Python, which allows less nesting than the compiler
                raise _Unreadable(f"{where}, line {line_of(start)} is nested too deeply to be read; put each "
                                  f"statement on its own line") from None
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                future.append(ast.unparse(node))
                continue
            gap = lines[previous_end:start - 1] if previous_end is not None else None
            if gap is not None and all(not line.strip() or line.lstrip().startswith("#") for line in gap):
                blocks[-1] += gap + [text]
            else:
                blocks.append([f"# cell {number}, line {line_of(start)}", text])
            previous_end = end
        if dropped:
            shown_dropped = dropped if len(dropped) <= _LISTED else dropped[:_LISTED - 1] + [
                f"and {len(dropped) - _LISTED + 1} more"]
            notes.append(f"cell {number}: top-level code not run by the grader (only imports, definitions and "
                         f"constant assignments are kept): {'; '.join(shown_dropped)}")
    header = (f"# Generated by the grader from {shown}: the imports, definitions and constant assignments of its\n"
              f"# code cells, nothing else. \"# cell N, line L\" gives where the code below it starts.\n")
    module = header + "".join(line + "\n" for line in dict.fromkeys(future)) + "".join(
        "\n" + "\n".join(block).rstrip() + "\n" for block in blocks)
    try:
        compile(module, shown, "exec", dont_inherit=True)
    except SyntaxError as e:
        raise _Unreadable(f"the code kept from {shown} does not compile: {e.msg} in the kept code's line "
                          f"{e.lineno}: {(e.text or '').strip()}") from None
    if not blocks:
        notes.append(f"{shown} defines nothing the grader can use (no imports, functions, classes or constants)")
    return module, notes


def _without_ipython_syntax(source: str, transformer: TransformerManager, budget: list[int], where: str) -> str:
    """The cell with magics, shell escapes and help requests turned into ``get_ipython()`` calls by IPython itself.

    ``budget`` (one int, shared by a notebook's cells) is what IPython may still spend, in characters x passes; a cell
    that would cost more is ``_Unreadable``.
    """
    try:
        ast.parse(source)
        return source  # plain Python: IPython would leave it as it is, and its tokenizer is slow on big cells
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    escapes = sum(1 for line in source.split("\n") if _IPYTHON_LINE.search(line))
    if not escapes:
        return source  # a plain syntax error: the compiler reports it
    cost = len(source) * (escapes + 2)
    if cost > budget[0]:
        raise _Unreadable(f"{where} is too large to read: it mixes {escapes} line{'s' * (escapes != 1)} of IPython "
                          f"syntax (magics, shell escapes) with {len(source):,} characters of code, and the grader "
                          f"reads at most about {TRANSFORM_BUDGET:,} characters x lines of that per notebook; move "
                          f"the magics into small cells of their own, or delete them")
    budget[0] -= cost
    try:
        return transformer.transform_cell(source)
    except Exception:  # the compiler then reports what IPython could not make sense of
        return source


def _line_map(source: str, python: str) -> Callable[[int], int]:
    """Map a line of IPython's transformed cell back to the cell as written (IPython may drop or join lines)."""
    written, transformed = source.split("\n"), python.split("\n")
    mapping = {}
    matcher = difflib.SequenceMatcher(None, written, transformed, autojunk=False)
    for _, i1, i2, j1, j2 in matcher.get_opcodes():
        for j in range(j1, j2):
            mapping[j + 1] = min(i1 + (j - j1), max(i2 - 1, i1)) + 1
    return lambda line: mapping.get(line, line)


def _first_line(node: ast.stmt) -> int:
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def _is_simple(node: ast.stmt) -> bool:
    return not any(hasattr(node, part) for part in ("body", "handlers", "cases"))


def _uses_ipython(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "get_ipython"
               for n in ast.walk(node))


def _nested_ipython(node: ast.stmt) -> list[ast.stmt]:
    return [n for n in ast.walk(node) if n is not node and isinstance(n, ast.stmt) and _is_simple(n)
            and _uses_ipython(n)]


def _blank_to_pass(lines: list[str], node: ast.stmt) -> None:
    """Replace a statement nested in a kept definition by ``pass``, keeping every other line where it was."""
    head = lines[node.lineno - 1].encode()[:node.col_offset].decode()
    tail = lines[node.end_lineno - 1].encode()[node.end_col_offset:].decode()
    lines[node.lineno - 1] = head + "pass" + tail
    for i in range(node.lineno, node.end_lineno):
        lines[i] = ""


def _scan(nodes) -> tuple[bool, set[str]]:
    """Whether evaluating ``nodes`` calls anything, and the names it reads (lambda bodies run later, so skipped)."""
    calls, loads, stores = False, set(), set()
    stack = [node for node in nodes if node is not None]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Lambda):
            stack += node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
            continue
        calls = calls or isinstance(node, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom))
        if isinstance(node, ast.Name):
            (loads if isinstance(node.ctx, ast.Load) else stores).add(node.id)
        stack.extend(ast.iter_child_nodes(node))
    return calls, loads - stores


def _keep(node: ast.stmt, bound: set[str], star: bool) -> tuple[str, set[str]]:
    """"keep", "drop" or "silent" (a docstring or ``pass``), with the unbound names that forced a drop."""
    def unbound(names: set[str]) -> set[str]:
        return set() if star else names - bound

    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return "keep", set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        if isinstance(node, ast.ClassDef):
            evaluated = node.decorator_list + node.bases + [k.value for k in node.keywords]
        else:
            evaluated = node.decorator_list + node.args.defaults + node.args.kw_defaults
        missing = unbound(_scan(evaluated)[1])
        return ("drop" if missing else "keep"), missing
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        value_calls, value_loads = _scan([node.value])
        target_calls, target_loads = _scan(targets)
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            target_loads.add(node.target.id)
        if value_calls or target_calls:
            return "drop", set()
        missing = unbound(value_loads | target_loads)
        return ("drop" if missing else "keep"), missing
    if isinstance(node, ast.Try):
        inner = set(bound)
        parts = node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body]
        missing = unbound(_scan([h.type for h in node.handlers])[1])
        for part in parts:
            verdict, part_missing = _keep(part, inner, star)
            if verdict == "drop":
                return "drop", part_missing
            inner |= _binds(part)[0]
        return ("drop" if missing else "keep"), missing
    if isinstance(node, ast.Pass) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
        return "silent", set()
    return "drop", set()


def _binds(node: ast.stmt) -> tuple[set[str], bool]:
    """Module-level names a kept statement binds, and whether it is a star import."""
    if isinstance(node, ast.Import):
        return {alias.asname or alias.name.split(".")[0] for alias in node.names}, False
    if isinstance(node, ast.ImportFrom):
        return {alias.asname or alias.name for alias in node.names if alias.name != "*"}, \
            any(alias.name == "*" for alias in node.names)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}, False
    if isinstance(node, ast.Assign) or (isinstance(node, ast.AnnAssign) and node.value is not None):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)
                and isinstance(n.ctx, ast.Store)}, False
    if isinstance(node, ast.Try):
        names, star = set(), False
        for part in node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body]:
            part_names, part_star = _binds(part)
            names |= part_names
            star = star or part_star
        return names, star
    return set(), False


def _digest(files: dict[str, bytes], errors: dict[str, str], markdown: dict[str, list[dict]]) -> str:
    """sha256 over the normalised files, the per-question errors and the Markdown cells, each length-prefixed."""
    digest = hashlib.sha256()
    items = [("file:" + name, data) for name, data in sorted(files.items())]
    items += [("error:" + stem, message.encode()) for stem, message in sorted(errors.items())]
    items.append(("markdown", json.dumps(markdown, sort_keys=True, ensure_ascii=False).encode()))
    for name, data in items:
        digest.update(b"%d:%s\0%d\0" % (len(name), name.encode(), len(data)))
        digest.update(data)
    return digest.hexdigest()


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"
