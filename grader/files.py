"""The grader's file helpers, one per idea: atomic writes, swapping a folder in whole, the CSV guard, and the
reproducible zip writer every bundle and archive the kit builds goes through."""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from pathlib import Path

from nnkit.files import atomic_write, atomic_write_bytes, atomic_write_text

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "atomic_swap_dir", "csv_safe", "csv_key",
           "write_zip", "zip_bytes", "FORMULA_START"]

# the earliest zip timestamp: the same bytes from the same sources
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# a cell starting with one of these is evaluated as a formula by spreadsheets
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# where a cell starts when the line is read with another separator (a ; locale, a tab-separated paste, or a comma
# reader that ignores quotes), blanks a spreadsheet may trim, then a formula start
_FORMULA_AFTER = re.compile(r"(^|[;,\t])(\s*)(?=[=+\-@])")
_GUARD = re.compile(r"(^|[;,])( ?)'(?=[=+\-@])")  # an apostrophe csv_safe put there
# C0 and C1 controls, DEL, line and paragraph separators, lone surrogates (a non-UTF-8 name) and non-characters
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def atomic_swap_dir(new: Path, final: Path) -> None:
    """Replace the folder ``final`` by ``new`` so that a reader sees the old folder or the new one, never a mix."""
    old = final.with_name(f".old-{final.name}-{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


def csv_safe(cell, limit: int | None = None) -> str:
    """A CSV text cell every spreadsheet shows as text, whether it splits the line on commas, semicolons or tabs:
    one line (line breaks and tabs become spaces, runs of blanks one space), no control characters (lone surrogates
    become U+FFFD), an apostrophe before ``= + - @`` at its start and after any ``;``, ``,`` or tab, and at most
    ``limit`` characters (then ending in "…"). Idempotent: ``csv_safe(csv_safe(s)) == csv_safe(s)``.

    For text columns only; numbers written as numbers stay numeric.
    """
    cell = cell if isinstance(cell, str) else ("" if cell is None else str(cell))
    cell = " ".join(_CONTROL.sub(lambda m: "\ufffd" if "\ud800" <= m[0] <= "\udfff" else " ", cell).split())
    cell = _FORMULA_AFTER.sub(r"\1\2'", cell)
    return cell[:max(limit - 1, 0)].rstrip() + "…" if limit is not None and len(cell) > limit else cell


def csv_key(cell: str) -> str:
    """One form of a student id whether it was written raw or as the gradebook shows it (:func:`csv_safe`): the
    gradebook's form without the apostrophes it added, ``csv_key("'=eve") == csv_key("=eve") == "=eve"``."""
    return _GUARD.sub(r"\1\2", csv_safe(cell))


def _fill(zf: zipfile.ZipFile, files: dict[str, bytes], executable: frozenset[str] | set[str]) -> None:
    for name in sorted(files):
        info = zipfile.ZipInfo(name, ZIP_EPOCH)
        info.external_attr = (0o100755 if name in executable else 0o100644) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, files[name])


def write_zip(out: Path, files: dict[str, bytes], executable=frozenset()) -> None:
    """Write ``files`` (name in the zip -> bytes) to ``out`` atomically, sorted, with fixed timestamps and modes:
    the same inputs give the same bytes."""
    atomic_write(Path(out), lambda f: _write(f, files, executable))


def _write(f, files, executable) -> None:
    with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        _fill(zf, files, executable)


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """:func:`write_zip` into memory (an ``.npz`` is such a zip of ``.npy`` files)."""
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        _fill(zf, files, frozenset())
    return buffer.getvalue()
