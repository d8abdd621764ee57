"""Grade a class: ``nnkit grade --submissions DIR --out DIR [-j N]`` (what ``make grade`` runs).

Each submission is normalised (grader.intake.submission), then graded by its own pytest process running the checks
of the questions that need it (``questions/<stem>/``, found by grader.registry), whose student code runs in
sandboxed workers. Each question of each submission is cached under its own key (:func:`question_key`: the kit's
generic code, the question's folder, the student's file for it), so a re-run regrades only what changed and resumes
an interrupted run. OUT is the class's record: whatever subset a run grades, the class outputs are rebuilt from every
submission graded into OUT (:func:`write_class_outputs`). Every file is written atomically and each submission's
directory is swapped in whole. The exit status is non-zero only when the grader itself failed, never because a
student scored low.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from grader import registry
from grader.checking import scoring
from grader.checking.command import checks_command
from grader.files import atomic_swap_dir, atomic_write_text
from grader.intake import collect as intake_collect
from grader.intake import options as intake_options
from grader.intake import submission
from grader.reporting import export, report, similarity, written
from grader.reporting.report import fmt_points
from grader.running import budget, sandbox, slots
from nnkit import __version__

KIT = Path(__file__).resolve().parents[1]
# Ample for the reference (about 100 s): the sum of the workers' own limits plus pytest's overhead.
SUBMISSION_TIMEOUT = 1200


def submission_timeout() -> float:
    """SUBMISSION_TIMEOUT, or more where the questions' training backstops (and trainings queued for a training
    slot) need it: grader.running.budget."""
    return max(SUBMISSION_TIMEOUT, budget.submission_timeout(registry.questions(), slots.queued()))


@dataclass
class Outcome:
    student_id: str
    status: str          # "graded", "cached" or "error"
    score: float | None = None
    max_score: float | None = None
    message: str = ""
    grader_failed: bool = False
    questions: dict[str, str] = field(default_factory=dict)  # stem -> "graded" or "cached"
    per_question: dict[str, tuple[float, float]] = field(default_factory=dict)  # stem -> (score, seconds) graded


# the code every question's checks run through; a change here regrades every question
GENERIC_CODE = ("grader/running", "grader/checking", "grader/intake", "grader/hidden", "grader/schema",
                "grader/registry.py", "nnkit")
_DIGESTED = (".py", ".ini", ".toml", ".json", ".npz")


def _digest_tree(h, paths: list[Path], base: Path) -> None:
    for root in paths:
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if path.suffix in _DIGESTED and "__pycache__" not in path.parts and path.is_file():
                h.update(str(path.relative_to(base)).encode())
                h.update(path.read_bytes())


def checks_digest(visible_only: bool, skip_training: bool = False) -> str:
    """The part of every question's cache key that all questions share: the kit version, the generic grading code
    (:data:`GENERIC_CODE`) and the set of checks run (``--visible-only``, ``--skip-training``)."""
    h = hashlib.sha256(__version__.encode())
    _digest_tree(h, [registry.REPO / p for p in GENERIC_CODE], registry.REPO)
    h.update(b"visible-only" if visible_only else b"all")
    h.update(b":skip-training" if skip_training else b":training")
    return h.hexdigest()


def question_digest(question) -> str:
    """A digest of one question's folder: its checks, hidden checks, helpers, reference values and question.toml."""
    h = hashlib.sha256(question.stem.encode())
    _digest_tree(h, [question.folder], question.folder.parent)
    return h.hexdigest()


def question_key(opts, stem: str, prepared, load_error: str) -> str:
    """The cache key of one question of one submission: the shared digest, the question's folder and the
    student's file for that question (or why it could not be loaded)."""
    h = hashlib.sha256(f"{opts.checks_digest}:{opts.question_digests[stem]}:{stem}".encode())
    if prepared is None:
        h.update(b"load-error:" + load_error.encode())
        return h.hexdigest()
    h.update(f"source:{prepared.sources.get(stem, 'missing')}\0error:{prepared.errors.get(stem, '')}\0".encode())
    module = prepared.root / f"{stem}.py"
    h.update(module.read_bytes() if module.is_file() else b"no module")
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
    questions = registry.questions()
    keys = {q.stem: question_key(opts, q.stem, prepared, load_error) for q in questions}
    cache_key = hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()
    old = _cached_record(final)
    forced = {q.stem for q in questions} if opts.no_cache else set(opts.regrade)
    stale = [q for q in questions
             if old is None or q.stem in forced or old["keys"].get(q.stem) != keys[q.stem]]
    if not stale and old["digest"] == digest:
        results = json.loads((final / "results.json").read_text())
        status = {q.stem: "cached" for q in questions}
        _record_cache_hits(final, status)
        return Outcome(student_id, "cached", results["score"], results["max_score"], questions=status)

    info = {stem: {"error": load_error or (prepared.errors.get(stem, "") if prepared else "")}
            for stem in registry.stems()}
    (work / "info.json").write_text(json.dumps(info))
    root = prepared.root if prepared else work / "empty"
    root.mkdir(parents=True, exist_ok=True)
    plots_dir = stage / "plots"
    record, seconds = {"checks": [], "workers": []}, {}
    if stale:
        record_path = work / "record.json"
        cmd = checks_command(stale, root, record_path, info=work / "info.json", artifacts=plots_dir,
                             hidden=not opts.visible_only, training=not opts.skip_training,
                             require_sandbox=opts.require_sandbox)
        failure, seconds = _run_checks([*cmd, "-vv"], work, student_id, [q.stem for q in stale],
                                       getattr(opts, "progress", None))
        if failure:
            return Outcome(student_id, "error", message=failure, grader_failed=True)
        record = json.loads(record_path.read_text())
    stale_stems = {q.stem for q in stale}
    kept = [q for q in questions if q.stem not in stale_stems]
    if kept:  # the questions whose key did not change keep their recorded checks, workers and plots
        kept_stems = {q.stem for q in kept}
        record["checks"] = [c for c in old["checks"] if c["stem"] in kept_stems] + record["checks"]
        record["workers"] = [w for w in old["workers"] if w["stem"] in kept_stems] + record["workers"]
        order = {stem: i for i, stem in enumerate(registry.stems())}
        record["checks"].sort(key=lambda c: order.get(c["stem"], len(order)))
        for q in kept:
            for name in q.plots:
                if (final / "plots" / name).is_file():
                    plots_dir.mkdir(exist_ok=True)
                    shutil.copy2(final / "plots" / name, plots_dir / name)
    record["keys"] = keys
    record["digest"] = digest
    record["seconds"] = {q.stem: seconds.get(q.stem, 0.0) if q.stem in stale_stems
                         else old["seconds"].get(q.stem, 0.0) for q in questions}
    results = scoring.results_json(record, time.monotonic() - start, scoring.sandbox_of(record["workers"])
                                   or sandbox.sandbox_mode())
    if load_error:
        results["output"] = f"{load_error}\n{results['output']}"
    plots = {}
    for q in questions:
        drawn = [f"plots/{name}" for name in q.plots if (plots_dir / name).exists()]
        if drawn:
            plots[q.stem] = drawn[0] if len(drawn) == 1 else drawn
    meta = scoring.meta_json(student_id, prepared, record, __version__, cache_key, plots)
    status = {q.stem: "graded" if q.stem in stale_stems else "cached" for q in questions}
    meta["cache"] = status
    atomic_write_text(stage / "results.json", json.dumps(results, indent=1))
    atomic_write_text(stage / "meta.json", json.dumps(meta, indent=1))
    atomic_write_text(stage / RECORD, json.dumps(record, indent=1, default=str))
    # the notebooks' Markdown cells (tagged written answers), for the TAs' side-by-side review
    answers = {stem: cells for stem, cells in (prepared.markdown if prepared else {}).items()}
    atomic_write_text(stage / "answers.json", json.dumps(answers, indent=1))
    report.write_feedback(stage)
    if prepared:  # exactly what was graded, for the instructor and the similarity report
        shutil.copytree(prepared.root, stage / "submission")
    atomic_swap_dir(stage, final)
    internal = [c["nodeid"] for c in record["checks"] if c.get("internal_error")]
    per_question = {q.stem: (math.fsum(c["score"] for c in record["checks"] if c["stem"] == q.stem),
                             record["seconds"][q.stem]) for q in questions}
    return Outcome(student_id, "graded", results["score"], results["max_score"],
                   message=f"internal errors in {internal}" if internal else "", grader_failed=bool(internal),
                   questions=status, per_question=per_question)


_TEST_LINE = re.compile(r"^questions/(?P<stem>[A-Za-z0-9_]+)/\S*::\S.* (PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS)")


def _run_checks(cmd: list[str], work: Path, student_id: str, stems: list[str], progress) -> tuple[str, dict]:
    """Run the checks' pytest, telling ``progress`` which question is running; ``(failure, {stem: seconds})``, the
    failure "" when pytest finished normally."""
    # the workers' job folders go under the work dir, which a re-run after a kill cleans up
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(work)}
    seconds: dict[str, float] = {}
    current, since = stems[0], time.monotonic()
    if progress is not None:
        progress.running(student_id, current)
    lines: list[str] = []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=KIT.parent, errors="replace")
    timed_out = threading.Event()

    def kill():
        timed_out.set()
        proc.kill()
    timeout = submission_timeout()
    killer = threading.Timer(timeout, kill)
    killer.start()
    try:
        for line in proc.stdout:
            if len(lines) < 5000:
                lines.append(line)
            m = _TEST_LINE.match(line)
            if m and m["stem"] != current and m["stem"] in stems:
                now = time.monotonic()
                seconds[current] = seconds.get(current, 0.0) + now - since
                current, since = m["stem"], now
                if progress is not None:
                    progress.running(student_id, current)
        proc.wait()
    finally:
        killer.cancel()
    seconds[current] = seconds.get(current, 0.0) + time.monotonic() - since
    if timed_out.is_set():
        return f"grading took longer than {timeout:.0f} s", seconds
    if proc.returncode not in (0, 1) or not (work / "record.json").exists():
        return f"pytest exited with {proc.returncode}:\n{''.join(lines)[-3000:]}", seconds
    return "", seconds


RECORD = "record.json"


def _record_cache_hits(final: Path, status: dict[str, str]) -> None:
    """Say in ``final/meta.json`` that this run took every question from the cache."""
    try:
        meta = json.loads((final / "meta.json").read_text())
    except (OSError, ValueError):
        return
    if isinstance(meta, dict) and meta.get("cache") != status:
        meta["cache"] = status
        atomic_write_text(final / "meta.json", json.dumps(meta, indent=1))


def _cached_record(final: Path) -> dict | None:
    """The check record a previous run kept in ``final`` (with each question's cache key), or None when there is
    none, it is unreadable, or the submission's reports are incomplete."""
    try:
        record = json.loads((final / RECORD).read_text())
        json.loads((final / "results.json").read_text())
    except (OSError, ValueError):
        return None
    if not (final / "feedback.html").exists() or not isinstance(record, dict):
        return None
    if not all(isinstance(record.get(k), t) for k, t in
               (("keys", dict), ("checks", list), ("workers", list), ("seconds", dict), ("digest", str))):
        return None
    if not all(isinstance(e, dict) and isinstance(e.get("stem"), str) for e in record["checks"] + record["workers"]):
        return None
    return record


class Progress:
    """Where the batch is. On a terminal a bar over every question of every submission, naming the running ones;
    otherwise one line per finished question (id, question, score, seconds) on stderr, so logs show progress."""

    def __init__(self, n_submissions: int, stream=None):
        self.stream = stream or sys.stderr
        self.lock = threading.Lock()
        self.running_now: dict[str, str] = {}
        n = len(registry.stems())
        self.bar = None
        if self.stream.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=n_submissions * n, unit="question", file=self.stream, dynamic_ncols=True)

    def running(self, student_id: str, stem: str) -> None:
        with self.lock:
            self.running_now[student_id] = stem
            if self.bar is not None:
                self.bar.set_postfix_str(self._postfix(), refresh=True)

    def _postfix(self) -> str:
        return "running " + ", ".join(f"{sid} {registry.by_stem(stem).label}"
                                      for sid, stem in sorted(self.running_now.items()))

    def finished(self, outcome: Outcome) -> None:
        with self.lock:
            self.running_now.pop(outcome.student_id, None)
            n = len(registry.stems())
            if self.bar is not None:
                self.bar.update(n)
                self.bar.set_postfix_str(self._postfix() if self.running_now else f"done {outcome.student_id}")
                return
            if outcome.status == "error":
                print(f"{outcome.student_id}  grader error", file=self.stream, flush=True)
                return
            for stem in registry.stems():
                label = registry.by_stem(stem).label
                if outcome.questions.get(stem) == "graded":
                    score, seconds = outcome.per_question[stem]
                    print(f"{outcome.student_id}  {label}  {fmt_points(score)}  {seconds:.1f} s", file=self.stream,
                          flush=True)
                else:
                    print(f"{outcome.student_id}  {label}  cached", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


SANDBOX_SUMMARY = {"bubblewrap": "bubblewrap", "landlock": "Landlock and seccomp (bubblewrap cannot start here)",
                   "none": "NONE, student code ran with your rights (--run-student-code-unsandboxed)"}


def write_class_outputs(out: Path, manual_scores: Path | None = None) -> tuple[list[Path], int]:
    """Rebuild the class's outputs from every submission graded into ``out``: each feedback (with the written
    scores stored in ``out``), gradebook.csv, junit.xml, the written-answer pages, similarity.html and the
    course-site exports already in ``out`` (grader.reporting.export.refresh). A new
    ``manual_scores`` CSV is merged into the stored scores first. Returns (the class files written, the number of
    flagged similarity pairs)."""
    dirs = graded_dirs(out)
    has_rubrics = all(q.notebook.is_file() for q in registry.questions())
    if has_rubrics and manual_scores is not None:
        written.store_manual_scores(out, manual_scores, [d.name for d in dirs])
    marks = written.written_marks(out, dirs) if has_rubrics else {}
    for d in dirs:
        report.write_feedback(d, marks.get(d.name))
    report.write_gradebook(out, dirs)
    report.write_junit(out, dirs)
    pages = [out / "gradebook.csv", out / "junit.xml"]
    if has_rubrics:
        pages += written.write_written_reports(out, dirs)[:1]
    else:  # a grader-only install (the Gradescope bundle) has no reference notebooks, hence no rubrics
        print(f"note: no reference notebooks in {written.SOLUTIONS}: the written-answer pages are not written",
              file=sys.stderr)
    path, flagged = similarity.write_similarity_counted(
        out, {d.name: d / "submission" for d in dirs if (d / "submission").is_dir()}, registry.REPO / "assignments")
    return [*pages, path, *export.refresh(out)], flagged


def graded_dirs(out: Path) -> list[Path]:
    """Every submission graded into ``out``, by this run or an earlier one: the class's record."""
    return sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and p.name != written.WRITTEN_DIR and (p / "results.json").is_file())


def parse_regrade(text: str) -> list[str]:
    """``--regrade q1,q3`` (labels or stems) as stems."""
    stems = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        match = [q.stem for q in registry.questions() if item in (q.label, q.stem)]
        if not match:
            known = ", ".join(q.label for q in registry.questions())
            raise argparse.ArgumentTypeError(f"--regrade {item}: not a question (the questions are {known})")
        stems += match
    return stems


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
    parser.add_argument("--regrade", type=parse_regrade, default=[], metavar="Q[,Q]",
                        help="re-grade these questions (e.g. q1 or q1,q3) even where nothing changed")
    parser.add_argument("--visible-only", action="store_true", help="run only the visible checks")
    parser.add_argument("--skip-training", action="store_true", help="skip the two training checks")
    parser.add_argument("--shard", type=parse_shard, metavar="I/N",
                        help="grade only shard I of N (a deterministic split by student id); combine with grader.shipping.merge")
    parser.add_argument("--fail-under", type=float, metavar="SCORE",
                        help="exit with status 3 if any submission scores below SCORE (for CI); off by default")
    parser.add_argument("--manual-scores", type=Path, metavar="CSV",
                        help="TAs' scores and comments for the written answers (student_id,q1a,q1a_comment,...; "
                             "commas or semicolons), as the written pages save them: kept in OUT, shown in "
                             "OUT/written/, the gradebook and the feedback")
    intake_options.add_arguments(parser)
    opts = parser.parse_args(argv)
    if opts.manual_scores is not None:
        try:
            written.read_manual_sheet(opts.manual_scores)
        except written.ManualScoresError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    try:
        intake = intake_options.collect_for(opts)
    except intake_collect.IntakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
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
    opts.out = opts.out.resolve()  # the checks run from the kit's folder: a relative OUT would land there
    opts.out.mkdir(parents=True, exist_ok=True)
    for stale in [*opts.out.glob(".work-*"), *opts.out.glob(".old-*")]:  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    opts.checks_digest = checks_digest(opts.visible_only, opts.skip_training)
    opts.question_digests = {q.stem: question_digest(q) for q in registry.questions()}
    entries = intake
    skipped, renamed = entries.skipped, entries.renamed
    if opts.shard:
        entries = [e for e in entries if in_shard(e[0], *opts.shard)]
    for item in skipped:
        print(f"skipped: {item}", file=sys.stderr)
    for item in renamed:
        print(f"renamed: {item}", file=sys.stderr)
    if not entries:
        print(f"no submissions found in {opts.submissions}", file=sys.stderr)

    progress = Progress(len(entries))
    opts.progress = progress
    outcomes: list[Outcome] = []
    with slots.for_run(opts.jobs, opts.out), ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
        futures = {pool.submit(grade_one, sid, path, opts.out, opts): sid for sid, path in entries}
        for fut in as_completed(futures):
            sid = futures[fut]
            try:
                outcome = fut.result()
            except Exception as exc:  # a grader bug for one submission must not lose the others
                outcome = Outcome(sid, "error", message=f"{type(exc).__name__}: {exc}", grader_failed=True)
            outcomes.append(outcome)
            progress.finished(outcome)
    progress.close()
    intake_options.record_run(opts.out, intake, opts)
    try:
        pages, flagged = write_class_outputs(opts.out, opts.manual_scores)
    except written.ManualScoresError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for o in sorted(outcomes, key=lambda o: o.student_id):
        if o.status == "error":
            print(f"{o.student_id:>24}  GRADER ERROR  {o.message}", file=sys.stderr)
        else:
            cached = [registry.by_stem(s).label for s, st in o.questions.items() if st == "cached"]
            how = ("  (cached)" if o.status == "cached" else f"  (cached: {', '.join(cached)})" if cached else "")
            print(f"{o.student_id:>24}  {o.score:g} / {o.max_score:g}{how}" + (f"  [{o.message}]" if o.message else ""))
    n_class = len(graded_dirs(opts.out))
    print(f"wrote for the {n_class} submission{'s' * (n_class != 1)} in {opts.out}: "
          f"{', '.join(str(p) for p in pages)}, and feedback in {opts.out}/<id>/")
    print(f"sandbox: {SANDBOX_SUMMARY[mode]}; similarity: {flagged} flagged pair{'s' * (flagged != 1)} "
          f"(see {opts.out / 'similarity.html'})")
    print("\n".join(intake_options.summary(intake, opts.out, opts)))
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
