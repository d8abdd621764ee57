"""Pack your work for submission: what ``make submit`` (``nnkit submit``) and ``submit()`` in a notebook run.

    nnkit submit [DIR] [--out ZIP] [--anyway]       (DIR default: assignments; ZIP default: submission.zip beside DIR)

It writes one zip holding exactly the files the grader reads, every question's module ``<stem>.py`` and notebook
``<stem>.ipynb``, after a pre-flight. What would cost points stops it, with the reason, unless ``--anyway``: a
missing question file, a notebook that does not parse, a written answer left empty, a module that does not import.
A visible check that fails is only a warning. Then it prints what it packed and where to hand it in.

Exit status: 0 when the zip was written, 1 when the pre-flight refused, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from grader import registry
from grader.files import write_zip
from nnkit.cells import ANSWER_TAG, PLACEHOLDER, tagged_id

IMPORT_TIMEOUT = 120  # seconds; a module whose top level trains a network is itself a problem for the grader
HAND_IN = """\
What to do with it:
  Gradescope: upload {zip} on the assignment's page (drag it onto "Submit Programming Assignment").
  GitHub Classroom: commit and push your assignments/ folder; the zip is not needed there.
  A course site (Canvas, Moodle, ...): upload {zip} as it is, not its files one by one."""


@dataclass
class Preflight:
    """What the pre-flight found: ``problems`` stop the submission, ``warnings`` do not."""
    files: dict[str, bytes] = field(default_factory=dict)  # name in the zip -> bytes
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _empty_answers(nb) -> list[str]:
    """The ids of the notebook's written-answer cells still holding the placeholder or nothing."""
    empty = []
    for cell in nb.cells:
        answer = tagged_id(cell, ANSWER_TAG)
        if answer and (PLACEHOLDER in cell.source or not cell.source.strip()):
            empty.append(answer)
    return empty


def _import_problem(folder: Path, stem: str) -> str:
    """Why ``folder/<stem>.py`` does not import in a fresh interpreter ("" when it does). It is your own code, run
    as your notebook runs it."""
    env = {**os.environ, "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = "import importlib, sys; importlib.import_module(sys.argv[1])"
    try:
        proc = subprocess.run([sys.executable, "-c", code, stem], cwd=folder, env=env, capture_output=True,
                              text=True, timeout=IMPORT_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"importing it takes more than {IMPORT_TIMEOUT} s: move slow work out of the module's top level"
    if proc.returncode == 0:
        return ""
    last = [line for line in proc.stderr.strip().splitlines() if line.strip()][-1:] or ["(no message)"]
    return f"it does not import: {last[0].strip()}"


def preflight(folder: Path, run_checks: bool = True) -> Preflight:
    """Read every question's files in ``folder`` and say what would cost points (with ``run_checks``, the failing
    visible checks too, as warnings)."""
    import nbformat

    found = Preflight()
    for q in registry.questions():
        module, notebook = folder / f"{q.stem}.py", folder / f"{q.stem}.ipynb"
        if not module.is_file():
            found.problems.append(f"{q.heading}: {module.name} is missing (your code for {q.heading} is in it)")
        else:
            found.files[module.name] = module.read_bytes()
            if problem := _import_problem(folder, q.stem):
                found.problems.append(f"{q.heading}: {module.name}: {problem}")
        if not notebook.is_file():
            found.problems.append(f"{q.heading}: {notebook.name} is missing (your written answers are in it)")
            continue
        found.files[notebook.name] = notebook.read_bytes()
        try:
            nb = nbformat.reads(notebook.read_text(encoding="utf-8"), as_version=4)
        except Exception as exc:  # nbformat raises JSON, validation and unicode errors alike
            found.problems.append(f"{q.heading}: {notebook.name} is not a readable notebook ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0][:160] if str(exc) else ''}); open it in Jupyter and "
                                  f"save it again")
            continue
        for answer in _empty_answers(nb):
            found.problems.append(f"{registry.heading(answer)}: the written answer in {notebook.name} is still "
                                  f"empty (\"{PLACEHOLDER}\")")
    if run_checks:
        found.warnings += failing_checks(folder)
    return found


def failing_checks(folder: Path) -> list[str]:
    """One warning per visible check (training aside) that fails on ``folder``."""
    from grader.shipping import local

    outcome = local.check(folder, list(registry.stems()), full=False)
    return [f"{local.check_title(c)}: a visible check fails (make check shows why)" for c in outcome.checks
            if c["status"] == "failed"]


def submit(folder: str | os.PathLike = ".", out: str | os.PathLike | None = None, anyway: bool = False,
           run_checks: bool = True, say=print) -> Path | None:
    """Pre-flight ``folder``, then write the zip (default ``submission.zip`` beside ``folder``); return its path, or
    None when the pre-flight refused (its reasons are said)."""
    folder = Path(folder).resolve()
    out = Path(out) if out is not None else folder.parent / "submission.zip"
    say(f"Checking {folder} before packing it...")
    found = preflight(folder, run_checks=False)
    if run_checks and (anyway or not found.problems):  # the visible checks only once nothing stops the zip
        found.warnings += failing_checks(folder)
    for warning in found.warnings:
        say(f"  warning: {warning}")
    if found.problems:
        say("\nThese would cost you points:")
        for problem in found.problems:
            say(f"  ✗ {problem}")
        if not anyway:
            say("\nNOT SUBMITTED: nothing was written. Fix the above and run it again (or, to hand in as it is: "
                "make submit ANYWAY=1, or submit(anyway=True)).")
            return None
        say("\nPacking it anyway, as asked.")
    write_zip(out, found.files)
    say(f"\nWrote {out} with {len(found.files)} files, exactly what the grader reads:")
    for name in found.files:
        say(f"  {name}")
    say("\n" + HAND_IN.format(zip=out.name))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nnkit submit", description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=Path("assignments"),
                        help="the folder holding your question files (default: assignments)")
    parser.add_argument("--out", type=Path, help="the zip to write (default: submission.zip beside DIR)")
    parser.add_argument("--anyway", action="store_true", help="write the zip even when the pre-flight refuses")
    opts = parser.parse_args(argv)
    if not opts.dir.is_dir():
        print(f"error: {opts.dir} is not a folder; give the folder holding your question files", file=sys.stderr)
        return 2
    return 0 if submit(opts.dir, opts.out, opts.anyway) is not None else 1


if __name__ == "__main__":
    sys.exit(main())
