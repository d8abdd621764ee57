"""Grade a class: ``nnkit grade --submissions DIR --out DIR [-j N]`` (what ``make grade`` runs).

Each submission is normalised (grader.intake.submission), then graded by its own pytest process running every
question's checks (``questions/<stem>/``, found by grader.registry), whose student code runs in sandboxed workers. Results are cached by a digest of the submission, the
kit version and the checks, so a re-run skips unchanged submissions and resumes an interrupted run. Every file is
written atomically and each submission's directory is swapped in whole. The exit status is non-zero only when the
grader itself failed, never because a student scored low.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from grader import registry
from grader.checking import scoring
from grader.checking.command import checks_command
from grader.files import atomic_swap_dir, atomic_write_text
from grader.intake import submission
from grader.reporting import report, similarity, written
from grader.running import sandbox
from nnkit import __version__

KIT = Path(__file__).resolve().parents[1]
# Ample for the reference (about 100 s): the sum of the workers' own limits plus pytest's overhead.
SUBMISSION_TIMEOUT = 1200


@dataclass
class Outcome:
    student_id: str
    status: str          # "graded", "cached" or "error"
    score: float | None = None
    max_score: float | None = None
    message: str = ""
    grader_failed: bool = False


def checks_digest(visible_only: bool, skip_training: bool = False) -> str:
    """Changes whenever a check, the worker, the kit version or the set of checks run (``--visible-only``,
    ``--skip-training``) changes, so cached results are never stale."""
    h = hashlib.sha256(__version__.encode())
    for root in (KIT, registry.QUESTIONS_DIR):
        for path in sorted(root.rglob("*")):
            if path.suffix not in (".py", ".ini", ".toml", ".json") or "__pycache__" in path.parts:
                continue
            h.update(str(path.relative_to(root.parent)).encode())
            h.update(path.read_bytes())
    h.update(b"visible-only" if visible_only else b"all")
    h.update(b":skip-training" if skip_training else b":training")
    return h.hexdigest()


def grade_one(student_id: str, path: Path, out: Path, opts) -> Outcome:
    final = out / student_id
    work = Path(tempfile.mkdtemp(prefix=f".work-{student_id}-", dir=out))
    try:
        return _grade_one(student_id, path, final, work, opts)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _grade_one(student_id: str, path: Path, final: Path, work: Path, opts) -> Outcome:
    start = time.monotonic()
    stage = work / "out"
    stage.mkdir()
    try:
        prepared = submission.prepare(path, student_id, work / "prep")
    except submission.SubmissionError as exc:
        prepared = None
        load_error = str(exc)
    else:
        load_error = ""
    digest = prepared.digest if prepared else hashlib.sha256(load_error.encode()).hexdigest()
    cache_key = hashlib.sha256(f"{opts.checks_digest}:{digest}".encode()).hexdigest()
    cached = _cached(final, cache_key)
    if cached and not opts.no_cache:
        return Outcome(student_id, "cached", cached["score"], cached["max_score"])

    info = {stem: {"error": load_error or (prepared.errors.get(stem, "") if prepared else "")}
            for stem in registry.stems()}
    (work / "info.json").write_text(json.dumps(info))
    root = prepared.root if prepared else work / "empty"
    root.mkdir(parents=True, exist_ok=True)
    record_path = work / "record.json"
    plots_dir = stage / "plots"
    cmd = checks_command(registry.questions(), root, record_path, info=work / "info.json", artifacts=plots_dir,
                         hidden=not opts.visible_only, training=not opts.skip_training,
                         require_sandbox=opts.require_sandbox)
    # the workers' job folders go under the work dir, which a re-run after a kill cleans up
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(work)}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=SUBMISSION_TIMEOUT, env=env,
                              cwd=KIT.parent)
    except subprocess.TimeoutExpired:
        return Outcome(student_id, "error", message=f"grading took longer than {SUBMISSION_TIMEOUT} s",
                       grader_failed=True)
    if proc.returncode not in (0, 1) or not record_path.exists():
        tail = (proc.stdout + proc.stderr)[-3000:]
        return Outcome(student_id, "error", message=f"pytest exited with {proc.returncode}:\n{tail}",
                       grader_failed=True)
    record = json.loads(record_path.read_text())
    results = scoring.results_json(record, time.monotonic() - start, scoring.sandbox_of(record["workers"])
                                  or sandbox.sandbox_mode())
    if load_error:
        results["output"] = f"{load_error}\n{results['output']}"
    plots = {}
    for q in registry.questions():
        drawn = [f"plots/{name}" for name in q.plots if (plots_dir / name).exists()]
        if drawn:
            plots[q.stem] = drawn[0] if len(drawn) == 1 else drawn
    meta = scoring.meta_json(student_id, prepared, record, __version__, cache_key, plots)
    atomic_write_text(stage / "results.json", json.dumps(results, indent=1))
    atomic_write_text(stage / "meta.json", json.dumps(meta, indent=1))
    # the notebooks' Markdown cells (tagged written answers), for the TAs' side-by-side review
    answers = {stem: cells for stem, cells in (prepared.markdown if prepared else {}).items()}
    atomic_write_text(stage / "answers.json", json.dumps(answers, indent=1))
    report.write_feedback(stage)
    if prepared:  # exactly what was graded, for the instructor and the similarity report
        shutil.copytree(prepared.root, stage / "submission")
    atomic_swap_dir(stage, final)
    internal = [c["nodeid"] for c in record["checks"] if c.get("internal_error")]
    return Outcome(student_id, "graded", results["score"], results["max_score"],
                   message=f"internal errors in {internal}" if internal else "", grader_failed=bool(internal))


def _cached(final: Path, cache_key: str) -> dict | None:
    try:
        meta = json.loads((final / "meta.json").read_text())
        results = json.loads((final / "results.json").read_text())
    except (OSError, ValueError):
        return None
    if meta.get("cache_key") != cache_key or not (final / "feedback.html").exists():
        return None
    return results


def in_shard(student_id: str, i: int, n: int) -> bool:
    """Shard membership by a hash of the id: stable whatever else is in the class."""
    return int(hashlib.sha256(student_id.encode()).hexdigest(), 16) % n == i - 1


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard must look like i/n, e.g. 1/3; got {text!r}") from None
    if not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"--shard {text}: need 1 <= i <= n")
    return i, n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Grade every submission in a directory.")
    parser.add_argument("--submissions", type=Path, default=Path("examples/submissions"))
    parser.add_argument("--out", type=Path, default=Path("grades"))
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--require-sandbox", action="store_true",
                        help="fail instead of running student code without a sandbox, even when "
                             "--run-student-code-unsandboxed is given (for CI grading)")
    parser.add_argument("--run-student-code-unsandboxed", action="store_true",
                        help="where neither bubblewrap nor Landlock can be used, grade anyway, running student code "
                             "with your rights (it could read the hidden checks and forge grades)")
    parser.add_argument("--no-cache", action="store_true", help="re-grade even unchanged submissions")
    parser.add_argument("--visible-only", action="store_true", help="run only the visible checks")
    parser.add_argument("--skip-training", action="store_true", help="skip the two training checks")
    parser.add_argument("--shard", type=parse_shard, metavar="I/N",
                        help="grade only shard I of N (a deterministic split by student id); combine with grader.shipping.merge")
    parser.add_argument("--fail-under", type=float, metavar="SCORE",
                        help="exit with status 3 if any submission scores below SCORE (for CI); off by default")
    parser.add_argument("--manual-scores", type=Path, metavar="CSV",
                        help="TAs' scores for the written answers (student_id,q1a,q1b,q1c,q2): shown in "
                             "OUT/written/ and merged into gradebook.csv")
    opts = parser.parse_args(argv)
    if opts.manual_scores is not None:
        try:
            written.read_manual_scores(opts.manual_scores)
        except written.ManualScoresError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    if not opts.submissions.is_dir():
        print(f"error: {opts.submissions} is not a directory of submissions", file=sys.stderr)
        return 2
    mode = sandbox.sandbox_mode()
    if mode == "none" and (opts.require_sandbox or not opts.run_student_code_unsandboxed):
        print(f"error: neither bubblewrap nor Landlock can be used here ({sandbox.unavailable_reason()}), so student "
              "code would run with your rights, able to read the hidden checks and change the grades. Install the "
              "Debian package bubblewrap, or pass --run-student-code-unsandboxed to grade anyway.", file=sys.stderr)
        return 2
    if mode == "none":
        print("warning: --run-student-code-unsandboxed: student code runs WITHOUT a sandbox, with your rights; every "
              "result says so.", file=sys.stderr)
    elif mode == "landlock":
        print("note: bubblewrap cannot be used here; student code runs under Landlock and seccomp as an unprivileged "
              "user instead.", file=sys.stderr)
    opts.out.mkdir(parents=True, exist_ok=True)
    for stale in [*opts.out.glob(".work-*"), *opts.out.glob(".old-*")]:  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    opts.checks_digest = checks_digest(opts.visible_only, opts.skip_training)
    entries = submission.discover(opts.submissions)
    skipped, renamed = entries.skipped, entries.renamed
    if opts.shard:
        entries = [e for e in entries if in_shard(e[0], *opts.shard)]
    for item in skipped:
        print(f"skipped: {item}", file=sys.stderr)
    for item in renamed:
        print(f"renamed: {item}", file=sys.stderr)
    if not entries:
        print(f"no submissions found in {opts.submissions}", file=sys.stderr)

    from tqdm import tqdm

    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
        futures = {pool.submit(grade_one, sid, path, opts.out, opts): sid for sid, path in entries}
        with tqdm(total=len(futures), unit="submission", disable=None, file=sys.stderr) as bar:
            for fut in as_completed(futures):
                sid = futures[fut]
                try:
                    outcome = fut.result()
                except Exception as exc:  # a grader bug for one submission must not lose the others
                    outcome = Outcome(sid, "error", message=f"{type(exc).__name__}: {exc}", grader_failed=True)
                outcomes.append(outcome)
                bar.set_postfix_str(sid)
                bar.update()
    student_dirs = [opts.out / sid for sid, _ in entries if (opts.out / sid).is_dir()]
    report.write_gradebook(opts.out, student_dirs)
    report.write_junit(opts.out, student_dirs)
    if all(q.notebook.is_file() for q in registry.questions()):
        try:
            written.write_written_reports(opts.out, student_dirs, opts.manual_scores)
        except written.ManualScoresError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:  # a grader-only install (the Gradescope bundle) has no reference notebooks, hence no rubrics
        print(f"note: no reference notebooks in {written.SOLUTIONS}: the written-answer pages are not written",
              file=sys.stderr)
    similarity.write_similarity_html(opts.out, {d.name: d / "submission" for d in student_dirs
                                                if (d / "submission").is_dir()}, registry.REPO / "assignments")
    for o in sorted(outcomes, key=lambda o: o.student_id):
        if o.status == "error":
            print(f"{o.student_id:>24}  GRADER ERROR  {o.message}", file=sys.stderr)
        else:
            print(f"{o.student_id:>24}  {o.score:g} / {o.max_score:g}{'  (cached)' if o.status == 'cached' else ''}"
                  + (f"  [{o.message}]" if o.message else ""))
    print(f"wrote {opts.out / 'gradebook.csv'}, {opts.out / 'junit.xml'}, {opts.out / 'similarity.html'} "
          f"and feedback in {opts.out}/<id>/")
    if any(o.grader_failed for o in outcomes):
        return 1
    if opts.fail_under is not None:
        low = [o for o in outcomes if o.score is not None and o.score < opts.fail_under]
        for o in low:
            print(f"{o.student_id}: {o.score:g} is below --fail-under {opts.fail_under:g}", file=sys.stderr)
        if low:
            return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
