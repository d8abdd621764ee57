"""Gradescope: build the autograder zip, and grade the one submission of a Gradescope container.

    python -m grader.shipping.gradescope build [--out dist/gradescope-autograder.zip]   # what `make gradescope` runs
    python -m grader.shipping.gradescope run                                            # what run_autograder runs

The zip follows Gradescope's autograder specification: ``setup.sh`` and ``run_autograder`` at its root; Gradescope
unpacks the whole zip into ``/autograder/source``, runs ``setup.sh`` once when it builds the image and
``/autograder/run_autograder`` (a copy of ours) for each submission, with the student's files in
``/autograder/submission``, and uploads ``/autograder/results/results.json``. The zip holds the kit (``nnkit``,
``grader`` with the pixel seed in ``grader/hidden/``, and ``questions`` with every question's ``hidden/`` folder:
its hidden checks and reference values), ``pyproject.toml``, ``requirements.lock`` and ``README.md`` for the
install, and nothing of ``solutions/``: no check imports it (the build refuses a bundled module that does, and one
whose question lacks hidden checks), and ``assignments/``, ``examples/`` and ``tests/`` stay out too.

``run`` copies the submission into a class of one, grades it with :mod:`grader.shipping.grade` and puts the student's
results.json where Gradescope reads it. It is steered by the environment:

``AUTOGRADER_ROOT``       the ``/autograder`` tree (default ``/autograder``); tests point it at a temporary copy
``NNKIT_PYTHON``          the interpreter run_autograder uses (default ``$AUTOGRADER_ROOT/venv/bin/python``, the
                          virtual environment setup.sh makes)
``NNKIT_SKIP_TRAINING=1`` skip the training checks (for tests; a real run trains)
``NNKIT_REQUIRE_SANDBOX=1`` refuse to run student code without a sandbox (bubblewrap or Landlock), whatever else is
                          set
``NNKIT_RUN_STUDENT_CODE_UNSANDBOXED=1`` where neither sandbox can be used, grade anyway with student code running as
                          root in the container (it could read ``/autograder/source``, hidden checks included)
``NNKIT_CACHE_DIR``       the datasets setup.sh cached (default ``$AUTOGRADER_ROOT/datasets``); grading runs with
                          ``NNKIT_OFFLINE=1`` unless told otherwise, so it never downloads

Bubblewrap needs namespaces, which a container may forbid (Docker's defaults do, for root and others alike). Where it
cannot start, the grader uses its second sandbox, which needs none: each worker runs as a fresh unprivileged uid under
Landlock rules (the runtime and its own job readable, a private temporary directory writable, nothing else) and a
seccomp filter (no network sockets, ptrace, namespaces or mounts); see :mod:`grader.running.confine`. results.json's
``output`` names the sandbox; ``extra_data.nnkit`` has it (``sandbox``: "bubblewrap", "landlock" or "none") and why
bubblewrap could not be used (``sandbox_problem``). Where neither works (a kernel without Landlock), grading refuses
and a placeholder results.json says so, unless ``NNKIT_RUN_STUDENT_CODE_UNSANDBOXED=1``.

If the grader produces no results.json for the submission, ``run`` still writes one (score 0, an apology, the error
in ``extra_data``), as Gradescope's best practices ask, and exits 1.

Written answers: when the submission holds notebooks, results.json's top-level ``output`` becomes HTML
(``"output_format": "html"``, one of the formats Gradescope's specification lists for ``output``: text, html,
simple_format, md and ansi; https://gradescope-autograders.readthedocs.io/en/latest/specs/#output-string-formatting)
holding the grader's own text, then every answer cell (tagged ``answer:<id>``) of every notebook, so that a TA
grading the written questions on Gradescope reads the answer beside Gradescope's rubric. The answers are rendered as
the TAs' pages render them (:func:`grader.reporting.written.render_markdown`: raw HTML shown as text, math as
whitelisted MathML, links as text, only pasted images) and bounded (:data:`ANSWER_CHARS` per answer,
:data:`OUTPUT_CHARS` in all). The bundle holds no reference notebooks, so an answer cell a student deleted is not
listed; the section names the notebooks handed in and those missing.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
from html import escape
from pathlib import Path

from grader import registry
from grader.files import atomic_write_text, write_zip
from grader.reporting import report
from grader.running import sandbox
from nnkit import __version__
from nnkit.cells import ANSWER_TAG, PLACEHOLDER

REPO = registry.REPO
STUDENT = "submission"

# (path in the repository, path in the zip); the scripts are executable
SCRIPTS = (("platforms/gradescope/setup.sh", "setup.sh"), ("platforms/gradescope/run_autograder", "run_autograder"))
FILES = ("pyproject.toml", "requirements.lock", "README.md")
PACKAGES = ("nnkit", "grader", "questions")
SUFFIXES = (".py", ".ini", ".json", ".toml")
DATA_DIRS = ("grader/reporting/templates/",)  # shipped whatever their files' suffixes: the reports' HTML templates

GRADER_FAILED = ("The autograder could not grade this submission because of an error in the grader itself, not in "
                 "your code. The score of 0 is a placeholder: please tell the course staff, who can see what went "
                 "wrong and regrade it.")


class BundleError(RuntimeError):
    """The bundle would be incomplete or would carry something it must not."""


def bundle_files(repo: Path = REPO) -> list[tuple[Path, str]]:
    """``(source file, name in the zip)`` for everything the Gradescope bundle holds, sorted by name."""
    files = [(repo / src, name) for src, name in SCRIPTS] + [(repo / name, name) for name in FILES]
    for package in PACKAGES:
        for path in sorted((repo / package).rglob("*")):
            rel = path.relative_to(repo)
            if (path.is_file() and (path.suffix in SUFFIXES or rel.as_posix().startswith(DATA_DIRS))
                    and "__pycache__" not in rel.parts and not any(part.startswith(".") for part in rel.parts)):
                files.append((path, rel.as_posix()))
    missing = [str(src) for src, _ in files if not src.is_file()]
    if missing:
        raise BundleError(f"missing from the repository: {', '.join(missing)}")
    return sorted(files, key=lambda item: item[1])


def _imports_solutions(path: Path) -> bool:
    tree = ast.parse(path.read_bytes(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "solutions" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "solutions":
            return True
    return False


def build(out: Path, repo: Path = REPO) -> list[str]:
    """Write the autograder zip to ``out`` (atomically, byte-for-byte reproducible); return the names in it."""
    files = bundle_files(repo)
    offenders = [name for src, name in files if name.endswith(".py") and _imports_solutions(src)]
    if offenders:
        raise BundleError(f"{', '.join(offenders)} import solutions/, which the Gradescope bundle does not carry; "
                          "move what the checks need into the question's folder (its hidden/ folder if "
                          "instructor-only)")
    names = {name for _, name in files}
    lacking = [q.stem for q in registry.questions(repo / "questions")
               if q.hidden_checks.relative_to(repo).as_posix() not in names]
    if lacking:
        raise BundleError(f"no hidden checks found for {', '.join(lacking)} (questions/<stem>/hidden/checks.py)")
    write_zip(Path(out), {name: src.read_bytes() for src, name in files}, {name for _, name in SCRIPTS})
    return [name for _, name in files]


# bounds of the written answers in results.json: the Markdown of one answer shown, one answer's HTML (pasted images
# are dropped past it), and the whole output
ANSWER_CHARS = 20_000
ANSWER_HTML_CHARS = 200_000
OUTPUT_CHARS = 1_000_000


def _answer_cells(answers: dict, stem: str) -> list[tuple[str, str, dict]]:
    """``(answer id, Markdown, attachments)`` of every tagged answer cell of ``stem``'s notebook, in order."""
    cells = answers.get(stem)
    found = []
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict) or not isinstance(cell.get("source"), str):
            continue
        tags = [t for t in cell.get("tags") or [] if isinstance(t, str) and t.startswith(ANSWER_TAG)]
        attachments = cell.get("attachments") if isinstance(cell.get("attachments"), dict) else {}
        text = "\n".join(line for line in cell["source"].splitlines() if line.strip() != PLACEHOLDER).strip("\n")
        found += [(tag[len(ANSWER_TAG):], text, attachments) for tag in tags[:1]]
    return found


def _answer_html(key: str, stem: str, text: str, attachments: dict) -> str:
    from grader.reporting.written import render_markdown  # only when a notebook was handed in

    title = registry.by_stem(stem).parts.get(key, "")
    head = f"<h3>{escape(key.upper())}{': ' + escape(title) if title else ''}</h3>\n"
    if not text.strip():
        return head + "<p><em>No answer: the answer cell is empty (or still holds the placeholder).</em></p>\n"
    note = ""
    if len(text) > ANSWER_CHARS:
        note = (f"<p><em>Only the first {ANSWER_CHARS:,} of {len(text):,} characters are shown; the whole answer "
                f"is in the submitted notebook.</em></p>\n")
        text = text[:ANSWER_CHARS]
    body = render_markdown(text, attachments)
    if len(body) > ANSWER_HTML_CHARS and attachments:
        body = render_markdown(text)
        note += "<p><em>Its pasted images are too large to show here; they are in the submitted notebook.</em></p>\n"
    if len(body) > ANSWER_HTML_CHARS:
        body = f"<pre>{escape(text[:ANSWER_HTML_CHARS // 8])}</pre>"
        note += "<p><em>Shown as plain text: rendered, it would be too large.</em></p>\n"
    return head + note + body + "\n"


def written_section(sub_dir: Path) -> str:
    """The written answers the grader kept for ``sub_dir`` (``answers.json``) as HTML for results.json's ``output``,
    or ``""`` when the submission holds no notebook."""
    try:
        answers = json.loads((Path(sub_dir) / "answers.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    if not isinstance(answers, dict):
        return ""
    handed_in = [stem for stem in registry.stems() if isinstance(answers.get(stem), list) and answers[stem]]
    if not handed_in:
        return ""
    parts = ["<h2>Written answers</h2>\n",
             f"<p>Notebooks handed in: {escape(', '.join(f'{s}.ipynb' for s in handed_in))}"
             + (f"; none for {escape(', '.join(s for s in registry.stems() if s not in handed_in))}"
                if len(handed_in) < len(registry.stems()) else "") + ".</p>\n"]
    size = sum(map(len, parts))
    pending = [(key, stem, text, att) for stem in handed_in for key, text, att in _answer_cells(answers, stem)]
    for n, (key, stem, text, attachments) in enumerate(pending):
        html = _answer_html(key, stem, text, attachments)
        if size + len(html) > OUTPUT_CHARS:
            parts.append(f"<p><em>{len(pending) - n} more answer(s) not shown, to keep this page small: they are "
                         f"in the submitted notebooks.</em></p>\n")
            break
        parts.append(html)
        size += len(html)
    if not pending:
        parts.append("<p><em>The notebooks hold no answer cell (no cell tagged answer:...).</em></p>\n")
    return "".join(parts)


def _failure_results(message: str, detail: str) -> dict:
    return {
        "score": 0,
        "output": message,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
        "extra_data": {"nnkit": {"kit_version": __version__, "grader_error": detail[-4000:]}},
    }


def _sandbox_problem() -> str:
    """Why bubblewrap cannot be used here, or "" when it can."""
    if sandbox.bwrap_available():
        return ""
    if os.environ.get("NNKIT_NO_BWRAP") == "1":
        return "NNKIT_NO_BWRAP=1 is set"
    return sandbox._bwrap_trial() or "bubblewrap is not usable"  # the reason the grader itself acted on


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def run(root: Path) -> int:
    """Grade ``root/submission`` and write ``root/results/results.json``.

    Exits 0 when results.json is the grader's (the grader's own exit status is in ``extra_data.nnkit``), 1 when it
    is the placeholder.
    """
    results_path = root / "results" / "results.json"
    results_path.parent.mkdir(parents=True, exist_ok=True)
    work = root / "nnkit-work"
    shutil.rmtree(work, ignore_errors=True)
    submissions, out = work / "submissions", work / "out"
    submissions.mkdir(parents=True)

    problem = _sandbox_problem()
    require = _flag("NNKIT_REQUIRE_SANDBOX")
    unsandboxed = _flag("NNKIT_RUN_STUDENT_CODE_UNSANDBOXED") and not require
    mode = sandbox.sandbox_mode()
    if mode == "landlock":
        print(f"nnkit: bubblewrap cannot be used here ({problem}); student code runs under Landlock and seccomp as "
              "an unprivileged uid", flush=True)
    elif mode == "none":
        print(f"nnkit: no sandbox can be used here ({sandbox.unavailable_reason()}); "
              + ("NNKIT_RUN_STUDENT_CODE_UNSANDBOXED=1, so student code runs WITHOUT a sandbox, and results.json "
                 "tells the student so" if unsandboxed else "the grader will refuse to run student code"), flush=True)
    cmd = [sys.executable, "-m", "grader.shipping.cli", "grade", "--submissions", str(submissions), "--out", str(out),
           "-j", "1", "--no-cache"]
    cmd += ["--require-sandbox"] if require else []
    cmd += ["--run-student-code-unsandboxed"] if unsandboxed else []
    cmd += ["--skip-training"] if _flag("NNKIT_SKIP_TRAINING") else []
    env = dict(os.environ)
    # setup.sh verified and cached the datasets there; grading never downloads
    env.setdefault("NNKIT_CACHE_DIR", str(root / "datasets"))
    env.setdefault("NNKIT_OFFLINE", "1")
    try:
        shutil.copytree(root / "submission", submissions / STUDENT, symlinks=True)
        status = subprocess.run(cmd, cwd=REPO, env=env).returncode
        results = report.load_results(out / STUDENT)
    except (OSError, shutil.Error, report.ResultsError) as exc:
        detail = f"{type(exc).__name__}: {exc}"
        print(f"nnkit: GRADER FAILED, writing a placeholder results.json: {detail}", flush=True)
        results = _failure_results(GRADER_FAILED, detail)
        report.validate_results(results)
        atomic_write_text(results_path, json.dumps(results, indent=1))
        return 1
    meta, _ = report.load_meta(out / STUDENT)
    section = written_section(out / STUDENT)
    if section:  # the grader's text, then the answers, as one HTML page
        results["output"] = f"<pre>{escape(results.get('output', ''))}</pre>\n{section}"
        results["output_format"] = "html"
    extra = results.setdefault("extra_data", {})
    extra["nnkit"] = {"kit_version": __version__, "sandboxed": meta.get("sandboxed"), "sandbox": meta.get("sandbox"),
                      "sandbox_problem": problem, "grader_exit_status": status}
    report.validate_results(results)
    atomic_write_text(results_path, json.dumps(results, indent=1))
    print(f"nnkit: {report.fmt_points(results['score'])} / {report.fmt_points(results.get('max_score', 0))} "
          f"written to {results_path} (sandbox: {meta.get('sandbox')}, grader exit status {status})", flush=True)
    if status != 0:
        print("nnkit: WARNING: the grader exited with a failure after grading this submission; its results.json "
              "is used, and the checks it could not run say so in their output", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the autograder zip to upload on Gradescope's Configure Autograder page")
    b.add_argument("--out", type=Path, default=REPO / "dist" / "gradescope-autograder.zip")
    r = sub.add_parser("run", help="grade /autograder/submission into /autograder/results/results.json")
    r.add_argument("--root", type=Path, default=Path(os.environ.get("AUTOGRADER_ROOT") or "/autograder"))
    args = parser.parse_args(argv)
    if args.command == "build":
        try:
            names = build(args.out)
        except BundleError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {args.out} ({len(names)} files); upload it on Gradescope's Configure Autograder page")
        return 0
    return run(args.root.resolve())


if __name__ == "__main__":
    sys.exit(main())
