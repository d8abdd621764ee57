"""Check your own work with the visible checks, the way the grader will: what ``make check`` runs.

    nnkit check [DIR] [--question q2] [--full]        (python -m grader.shipping.local works too)

``DIR`` (default ``assignments``) holds the question files, modules or notebooks. It is read exactly as a submission
is (:func:`grader.intake.submission.prepare`), and the code runs in the grader's own sandboxed workers, through the
same pytest plugin and checks; where no sandbox can run (a laptop without bubblewrap), the student's own code runs
without one, which it says once. The checks that train a network take minutes and are skipped unless ``--full``;
what the student's code prints (Keras's per-epoch log, the epochs of a numpy training loop) is shown as it comes.
:func:`check` is the same run for ``nnkit.check.check()`` in a notebook.

The report gives, per question: how many checks passed, their points, each failing check's title with the start of its
message, and how many hidden checks were not run. Hidden checks are graded only after submission, so passing every
visible check here is not full marks, and the report never says otherwise. In the repository the hidden checks are
counted by collecting every question's ``hidden/checks.py``; the student bundle, which has none, reads their number
from ``questions/hidden_counts.json``, written by ``make release``.

Exit status: 0 when every check that ran passed, 1 when one failed (GitHub Classroom's command grader awards a
question's points on 0), 2 on a usage error (an unknown question, a missing directory), 3 when the checks could not
run at all.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from grader import registry
from grader.checking.command import checks_command
from grader.checking.inventory import collect
from grader.intake import submission
from grader.running import sandbox

HIDDEN_COUNTS = registry.QUESTIONS_DIR / "hidden_counts.json"
MESSAGE_LINES = 6
WIDTH = 116
_ARRAY = re.compile(r"array\((?:[^()]|\([^()]*\))*\)")  # numpy 2 writes shape=(784, 32) inside
FAILED, USAGE, BROKEN = 1, 2, 3


def question(text: str) -> str:
    """The stem named by ``q2``, ``Q2``, ``2`` or ``q2_softmax_jacobian``."""
    try:
        return registry.lookup(text).stem
    except KeyError:
        known = registry.questions()
        raise argparse.ArgumentTypeError(f"unknown question {text!r}: use one of "
                                         f"{', '.join(q.label for q in known)} or a module name such as "
                                         f"{known[0].stem}") from None


def collect_hidden_counts() -> dict[str, int]:
    """The number of hidden checks (parametrized cases counted one by one) per question, by collecting them."""
    hidden = [q.hidden_checks for q in registry.questions() if q.hidden_checks.is_file()]
    counts = Counter(registry.of_module(item.module.__name__).stem for item in collect(hidden)
                     if item.get_closest_marker("check").kwargs.get("hidden"))
    return {stem: counts.get(stem, 0) for stem in registry.stems()}


def hidden_counts() -> dict[str, int] | None:
    """Hidden checks per question: collected where they are present, else from the release manifest, else None."""
    if any(q.hidden_checks.is_file() for q in registry.questions()):
        return collect_hidden_counts()
    if HIDDEN_COUNTS.is_file():
        return {stem: int(n) for stem, n in json.loads(HIDDEN_COUNTS.read_text()).items()}
    return None


def run_checks(root: Path, info: Path, record: Path, stems: list[str], full: bool,
               echo: Callable[[str], object] | None = None) -> subprocess.CompletedProcess:
    """The visible checks of ``stems`` on the prepared submission ``root``, as grader.shipping.grade runs them.
    ``echo`` gets what the student's code prints, line by line as it arrives (Keras's per-epoch log, the epochs of a
    numpy training loop), prefixed with the seconds since the start."""
    cmd = checks_command([registry.by_stem(s) for s in stems], root, record, info=info, hidden=False, training=full)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    if echo is None:
        return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=registry.REPO)
    progress = record.with_name("progress.txt")
    progress.touch()
    start, seen, pending = time.monotonic(), 0, b""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env={**env, sandbox.PROGRESS_ENV: str(progress)},
                                cwd=registry.REPO)
        while True:
            done = proc.poll() is not None
            with progress.open("rb") as f:
                f.seek(seen)
                data = f.read()
            seen += len(data)
            *lines, pending = (pending + data).replace(b"\r", b"\n").split(b"\n")
            for line in lines:
                if line.strip():
                    echo(f"    [{time.monotonic() - start:4.0f} s] {line.decode(errors='replace').rstrip()}")
            if done:
                break
            time.sleep(0.3)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(cmd, proc.returncode, out.read().decode(errors="replace"),
                                           err.read().decode(errors="replace"))


def _points(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _clip(line: str) -> str:
    return line if len(line) <= WIDTH else line[:WIDTH - 3] + "..."


def _message(output: str, indent: str) -> list[str]:
    """The start of a check's message, wrapped: numpy's printouts of the inputs shortened, pytest's restatement of
    the failed comparison (``assert 0.9 <= 1e-05`` and its ``+ where`` lines) left out."""
    output = _ARRAY.sub("array(...)", output)
    lines = []
    for line in output.strip().splitlines():
        if line.startswith("assert "):
            break
        if line.strip():
            lines.append(line.rstrip())
    lines = lines or ["(no message)"]
    if lines[0].startswith("internal grader error") and len(lines) > MESSAGE_LINES:
        lines = [lines[0], "...", *lines[-(MESSAGE_LINES - 2):]]  # a traceback: where it ended matters
    shown = []
    for line in lines[:MESSAGE_LINES]:
        body = line.lstrip()
        first = indent + line[:len(line) - len(body)]
        shown += textwrap.wrap(body, WIDTH, initial_indent=first, subsequent_indent=first + "  ",
                               break_long_words=False, break_on_hyphens=False)[:4]
    if len(lines) > MESSAGE_LINES:
        shown.append(f"{indent}... ({len(lines) - MESSAGE_LINES} more lines)")
    return shown


def check_title(check: dict) -> str:
    """``Q1a: <title> [<case>]``: the part the check belongs to first, as results.json names it."""
    case = re.search(r"\[(.*)\]$", check["nodeid"])
    part = check.get("part") or registry.by_stem(check["stem"]).label
    return f"{registry.heading(part)}: {check['title']}" + (f" [{case.group(1)}]" if case else "")


def report(checks: list[dict], prepared: submission.Prepared, stems: list[str], hidden: dict[str, int] | None,
           full: bool) -> list[str]:
    """The student-facing report, line by line."""
    lines = [f"note: {note}" for note in prepared.general]
    totals = Counter()
    for q in registry.questions():
        label, stem = q.label, q.stem
        if stem not in stems:
            continue
        mine = [c for c in checks if c["stem"] == stem]
        ran = [c for c in mine if c["status"] != "skipped"]
        skipped = [c for c in mine if c["status"] == "skipped"]
        passed = sum(c["status"] == "passed" for c in ran)
        score, points = sum(c["score"] for c in ran), sum(c["points"] for c in ran)
        source = {"module": f"{stem}.py", "notebook": f"{stem}.ipynb"}.get(prepared.sources.get(stem, ""),
                                                                             f"no {stem}.py or {stem}.ipynb")
        lines += ["", f"{registry.heading(label)}  {source}", f"    checks passed: {passed} of {len(ran)}    "
                                                     f"points: {_points(score)} of {_points(points)}"]
        for note in prepared.notes.get(stem, []):
            if not note.startswith("found both"):  # the usual layout: the notebook imports the module
                lines.append(f"    note: {_clip(note)}")
        previous = None
        for check in ran:
            if check["status"] == "passed":
                if check["output"]:  # what the check measured, e.g. the accuracy reached
                    lines += textwrap.wrap(f"{check_title(check)}: {check['output']}", WIDTH, initial_indent="    ok      ",
                                           subsequent_indent=" " * 14)
                continue
            partial = f" ({_points(check['score'])} of {_points(check['points'])} points)" if check["score"] else ""
            lines.append(f"    FAILED  {check_title(check)}{partial}")
            message = _message(check["output"], " " * 12)
            lines += message if message != previous else [" " * 12 + "(the same message as above)"]
            previous = message
        if skipped:
            lines.append(f"    not run: {len(skipped)} training check{'s' * (len(skipped) != 1)} "
                         f"({_points(sum(c['points'] for c in skipped))} points); make check FULL=1 runs "
                         f"{'them' if len(skipped) != 1 else 'it'}")
        n_hidden = hidden.get(stem) if hidden is not None else None
        lines.append(f"    hidden checks: {n_hidden} not run" if n_hidden is not None
                     else "    hidden checks: not run (their number is unknown here)")
        totals.update(passed=passed, ran=len(ran), score=score, points=points, skipped=len(skipped),
                      skipped_points=sum(c["points"] for c in skipped), hidden=n_hidden or 0)
    lines += ["", f"Visible checks: {totals['passed']} of {totals['ran']} passed, "
                  f"{_points(totals['score'])} of {_points(totals['points'])} points."]
    if totals["skipped"]:
        lines.append(f"Training checks not run: {totals['skipped']} ({_points(totals['skipped_points'])} points); "
                     f"make check FULL=1 runs them (several minutes).")
    elif full:
        lines.append("FULL=1: training checks included.")
    if hidden is None or totals["hidden"]:
        count = f"{totals['hidden']} hidden checks" if hidden is not None else "The hidden checks"
        lines += [f"{count} were not run: they are graded after you submit, on inputs you have not seen,",
                  "so passing the visible checks does not mean full marks."]
    return lines


@dataclass
class Outcome:
    """What one local check found: the report's lines, the checks' records and the exit status."""
    lines: list[str]
    checks: list[dict] = field(default_factory=list)
    status: int = 0


def check(folder: Path, stems: list[str], full: bool, parts: set[str] | None = None,
          echo: Callable[[str], object] | None = None) -> Outcome:
    """The visible checks of ``stems`` on the question files in ``folder`` (a directory or a .zip), read as the
    grader reads a submission; ``parts``: report only the checks of those parts (``{"q1a"}``)."""
    with tempfile.TemporaryDirectory(prefix="nnkit-check-") as tmp:
        work = Path(tmp)
        try:
            prepared = submission.prepare(folder, "local", work / "prepared")
        except submission.SubmissionError as exc:
            return Outcome([f"error: {exc}"], status=USAGE)
        info = work / "info.json"
        info.write_text(json.dumps({stem: {"error": prepared.errors.get(stem, "")} for stem in registry.stems()}))
        record = work / "record.json"
        proc = run_checks(prepared.root, info, record, stems, full, echo)
        if proc.returncode not in (0, 1) or not record.is_file():
            return Outcome([f"error: the checks could not run (pytest exited with {proc.returncode}):",
                            (proc.stdout + proc.stderr)[-3000:]], status=BROKEN)
        checks = json.loads(record.read_text())["checks"]
    if parts:
        checks = [c for c in checks if (c.get("part") or registry.by_stem(c["stem"]).label) in parts]
    failed = any(c["status"] == "failed" for c in checks)
    return Outcome(report(checks, prepared, stems, hidden_counts(), full), checks, FAILED if failed else 0)


_told_unsandboxed = False


def sandbox_note() -> str:
    """Once per process, where no sandbox can run here: that the student's own code runs without one ("" else)."""
    global _told_unsandboxed
    if _told_unsandboxed or sandbox.sandbox_mode() != "none":
        return ""
    _told_unsandboxed = True
    return ("note: on this machine your code runs without the grader's sandbox (bubblewrap is not installed, which "
            "is fine for your own code); the checks are the same as the grader's.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nnkit check", description="Run the visible checks on your work as the "
                                     "grader will: make check [DIR=assignments] [Q=q2] [FULL=1].")
    parser.add_argument("dir", nargs="?", type=Path, default=Path("assignments"),
                        help="the directory (or .zip) holding your question files (default: assignments)")
    parser.add_argument("-q", "--question", type=question, help="check one question only: "
                        + ", ".join(q.label for q in registry.questions()))
    parser.add_argument("--full", action="store_true", help="also run the training checks (several minutes)")
    opts = parser.parse_args(argv)
    if not opts.dir.exists():
        print(f"error: {opts.dir} does not exist; give the directory holding your question files", file=sys.stderr)
        return USAGE
    stems = [opts.question] if opts.question else list(registry.stems())
    start = time.monotonic()
    if note := sandbox_note():
        print(note, file=sys.stderr)
    training = "training checks included, this takes several minutes; their progress shows as it happens" \
        if opts.full else "training checks skipped; make check FULL=1 runs them"
    print(f"Checking {opts.dir} with the visible checks ({training}).", flush=True)
    outcome = check(opts.dir, stems, opts.full, echo=lambda line: print(line, flush=True))
    if outcome.status in (USAGE, BROKEN):
        print("\n".join(outcome.lines), file=sys.stderr)
        return outcome.status
    print("\n".join(outcome.lines))
    print(f"({time.monotonic() - start:.0f} s)")
    return outcome.status


if __name__ == "__main__":
    sys.exit(main())
