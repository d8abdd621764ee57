"""Reports rendered from what the grader wrote: each submission's results.json and meta.json. Never runs student code.

For each submission ``OUT/<id>/``:

- ``feedback.md``: what the student reads to fix their work; plots are relative links (``plots/q1b.png``).
- ``feedback.html``: the same, self-contained: inline CSS, plots as data URIs, every string escaped, and a
  Content-Security-Policy that allows no script and no network request even if something slipped through.

For the whole run: ``OUT/gradebook.csv`` (points per question, one row per submission) and ``OUT/junit.xml`` (one test
suite per submission, for CI dashboards). Every file is written atomically, so no reader sees half a report.

    python -m grader.report grades/      # re-render all of them from an existing output directory
"""

from __future__ import annotations

import argparse
import base64
import csv
import functools
import io
import json
import math
import mimetypes
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from grader import registry
from grader.files import atomic_write_bytes, atomic_write_text, csv_safe
from grader.intake import record as intake_record
from grader.reporting.html import render

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schema" / "results.schema.json"

# Gradescope shows "after_due_date" checks once the deadline has passed, which is when this feedback goes out;
# "hidden" and "after_published" checks are never explained here, only named and scored.
WITHHELD = frozenset({"hidden", "after_published"})
MAX_OUTPUT_CHARS = 8000
# the gradebook's note: each question's phrase, then the whole cell (a student's error text is never quoted whole)
NOTE_PHRASE_CHARS = 80
NOTE_CHARS = 300
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/svg+xml", "image/webp"})

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# C0 controls other than tab and newline, DEL, lone surrogates and non-characters: not allowed in XML 1.0, and
# lone surrogates cannot even be encoded as UTF-8.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


class ResultsError(ValueError):
    """A results.json that is missing, not JSON, or not in the format of ``schema/results.schema.json``."""


def gradebook_header() -> tuple[str, ...]:
    return ("student_id", *registry.stems(), "late_penalty", "total", "max", "note")


def results_validator() -> jsonschema.protocols.Validator:
    """The results.json schema with its stems filled in from the registry."""
    return _validator(tuple(registry.stems()))


@functools.lru_cache(maxsize=4)
def _validator(stems: tuple[str, ...]) -> jsonschema.protocols.Validator:
    # built once per process: checking the schema itself costs ~0.1 s, which a class of 1,000 paid three times each
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    schema["$defs"]["stem"]["enum"] = list(stems)  # the questions are the registry's, not the file's
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_results(data) -> None:
    """Raise :class:`ResultsError` unless ``data`` follows ``schema/results.schema.json``."""
    error = jsonschema.exceptions.best_match(results_validator().iter_errors(data))
    if error is not None:
        message = error.message if len(error.message) <= 200 else error.message[:200] + "…"
        raise ResultsError(f"results.json does not match the schema at {error.json_path}: {message}")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a score")


def load_results(sub_dir: Path) -> dict:
    """The submission's results.json, validated; :class:`ResultsError` says what is wrong with it."""
    path = Path(sub_dir) / "results.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError("results.json is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"results.json could not be read ({exc})") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ResultsError(f"results.json is not valid JSON ({exc})") from None
    validate_results(data)
    return data


def load_meta(sub_dir: Path) -> tuple[dict, str]:
    """``(meta, problem)``: the submission's meta.json, or ``{}`` and why it could not be used.

    meta.json only adds context (notes, worker status, plots), so the reports go on without it.
    """
    path = Path(sub_dir) / "meta.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, "meta.json is missing"
    except (OSError, ValueError) as exc:
        return {}, f"meta.json could not be read ({exc})"
    if not isinstance(meta, dict):
        return {}, "meta.json is not a JSON object"
    return meta, ""


def _str(x) -> str:
    return x if isinstance(x, str) else ""


def _strs(x) -> list[str]:
    if isinstance(x, str):
        return [x] if x else []
    return [s for s in x if isinstance(s, str) and s] if isinstance(x, list) else []


def _meta_question(meta: dict, stem: str) -> dict:
    questions = meta.get("questions")
    q = questions.get(stem) if isinstance(questions, dict) else None
    return q if isinstance(q, dict) else {}


def _worker_problem(q: dict) -> str:
    worker = _str(q.get("worker")).strip()
    return "" if worker in ("", "ok") else worker


def clean_text(s) -> str:
    """Text safe to show and to put in XML: ANSI colours dropped, carriage-return progress bars collapsed to what a
    terminal would finally show, and characters XML and UTF-8 cannot carry replaced by U+FFFD."""
    s = s if isinstance(s, str) else ("" if s is None else str(s))
    s = _ANSI.sub("", s).replace("\r\n", "\n")
    if "\r" in s:
        s = "\n".join(next((p for p in reversed(line.split("\r")) if p), "") for line in s.split("\n"))
    return _BAD_CHARS.sub("\ufffd", s)


def _truncate(s: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    if len(s) <= limit:
        return s
    return s[:limit] + f"\n… ({len(s) - limit} more characters not shown)"


def fmt_points(x: float) -> str:
    """Points with at most two decimals and no float noise: 17.5, 2, 0.3 (not 0.30000000000000004)."""
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


@dataclass
class CheckView:
    label: str  # "Q1a", or "" when the name carries no label
    title: str
    score: float
    max_score: float
    passed: bool
    withheld: bool
    output: str  # always "" when withheld
    not_run: bool = False  # skipped (--skip-training): neither passed nor failed

    @property
    def state(self) -> str:
        if self.not_run:
            return "not-run"
        if self.passed:
            return "passed"
        return "partial" if self.score > 0 else "failed"


@dataclass
class PlotView:
    path: str  # relative to the submission directory, as meta.json gives it
    caption: str
    data_uri: str  # "" when the file is missing


@dataclass
class QuestionView:
    stem: str
    label: str  # "Q1"
    title: str
    checks: list[CheckView] = field(default_factory=list)
    source: str = ""
    notes: list[str] = field(default_factory=list)
    worker: str = ""  # "" when the worker finished normally
    error: str = ""
    stdout: str = ""
    plots: list[PlotView] = field(default_factory=list)

    @property
    def score(self) -> float:
        return math.fsum(c.score for c in self.checks)

    @property
    def max_score(self) -> float:
        return math.fsum(c.max_score for c in self.checks)

    @property
    def n_passed(self) -> int:
        return sum(c.passed for c in self.checks)

    @property
    def run_checks(self) -> list[CheckView]:
        return [c for c in self.checks if not c.not_run]

    @property
    def passed_text(self) -> str:
        """"3 of 4", or "0 of 0 run (2 not run)" when checks were skipped."""
        n_run = len(self.run_checks)
        skipped = len(self.checks) - n_run
        return f"{self.n_passed} of {n_run}" + (f" run ({skipped} not run)" if skipped else "")

    @property
    def source_text(self) -> str:
        return {
            "module": "Graded from your Python module.",
            "notebook": "Graded from your notebook.",
            "missing": "No file for this question was found in your submission, so its checks could not run.",
        }.get(self.source, f"Graded from: {self.source}." if self.source else "")

    @property
    def worker_word(self) -> str:
        """A word for the summary table: "stopped", "not run", or "" when the worker finished normally."""
        return "" if not self.worker else "not run" if self.worker == "not run" else "stopped"

    @property
    def worker_text(self) -> str:
        if not self.worker or (self.worker == "not run" and self.source == "missing"):
            return ""
        if self.worker == "not run":
            return "The grader did not run your code for this question, so its checks score 0."
        consequence = ("so the whole question scores 0." if self.score == 0
                       else "so the checks that needed it score 0.")
        text = f"Your code for this question was stopped: {self.worker}. The checks could not finish, {consequence}"
        if "timed out" in self.worker:
            text += (" This usually means a loop that never ends, or heavy work (training, say) at the top level of"
                     " your file, which runs as soon as the file is loaded.")
        return text


@dataclass
class FeedbackView:
    student_id: str
    score: float = 0.0
    max_score: float = 0.0
    output: str = ""
    general: list[str] = field(default_factory=list)
    questions: list[QuestionView] = field(default_factory=list)
    kit_version: str = ""
    digest: str = ""
    problem: str = ""  # why results.json could not be used; the report is then only this
    written: list = field(default_factory=list)  # grader.reporting.written.WrittenMark per written question
    late_penalty: float = 0.0  # points the late policy takes from the autograded score

    @property
    def all_passed(self) -> bool:
        checks = [c for q in self.questions for c in q.checks if not c.not_run]
        return bool(checks) and all(c.passed for c in checks)

    @property
    def not_run_points(self) -> float:
        return math.fsum(c.max_score for q in self.questions for c in q.checks if c.not_run)

    @property
    def written_score(self) -> float:
        return math.fsum(m.score for m in self.written if m.score is not None)

    @property
    def written_max(self) -> float:
        return math.fsum(m.max_points for m in self.written)

    @property
    def course_score(self) -> float:
        """The course total: autograded points less the late penalty, plus the written points (answers not yet
        scored count 0), as the gradebook's total_with_written."""
        return self.score - self.late_penalty + self.written_score

    @property
    def course_max(self) -> float:
        return self.max_score + self.written_max

    @property
    def n_unscored(self) -> int:
        return sum(m.score is None for m in self.written)

    @property
    def has_withheld(self) -> bool:
        return any(c.withheld for q in self.questions for c in q.checks)


def _part(test: dict, stem: str) -> str:
    """The part a check grades: its second tag when that is one of the question's parts (the grader writes it), else
    the part whose upper-case label prefixes the name (results written without it), else ""."""
    known = registry.by_stem(stem)
    parts = [*known.parts, known.label]
    tags = test.get("tags", [])
    if len(tags) > 1 and tags[1] in parts:
        return tags[1]
    return next((p for p in parts if _str(test.get("name")).startswith(f"{registry.heading(p)}: ")), "")


def _number_key(test: dict) -> tuple:
    parts = _str(test.get("number")).split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else ()


def _plot(sub_dir: Path, label: str, rel: str) -> PlotView:
    caption = f"{label}: {Path(rel).name}"
    root = sub_dir.resolve()
    try:
        path = (root / rel).resolve()
        mime = mimetypes.guess_type(path.name)[0]
        # only image files the grader put inside this submission's directory
        if not path.is_relative_to(root) or mime not in IMAGE_TYPES or not path.is_file():
            return PlotView(rel, caption, "")
        data = path.read_bytes()
    except (OSError, ValueError):
        return PlotView(rel, caption, "")
    return PlotView(rel, caption, f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}")


def build_view(sub_dir: Path) -> FeedbackView:
    """Everything the feedback shows, gathered from results.json and meta.json, with hidden outputs dropped."""
    sub_dir = Path(sub_dir)
    meta, _ = load_meta(sub_dir)
    view = FeedbackView(
        student_id=clean_text(_str(meta.get("student_id")) or sub_dir.name),
        general=[clean_text(s) for s in _strs(meta.get("general"))],
        kit_version=clean_text(_str(meta.get("kit_version"))),
        digest=clean_text(_str(meta.get("digest"))),
    )
    try:
        results = load_results(sub_dir)
    except ResultsError as exc:
        view.problem = str(exc)
        return view

    default_visibility = results.get("visibility", "visible")
    questions: dict[str, QuestionView] = {}

    def question(stem: str) -> QuestionView:
        if stem not in questions:
            known = registry.by_stem(stem)
            questions[stem] = QuestionView(stem, known.heading, known.title)
        return questions[stem]

    indexed = sorted(enumerate(results["tests"]), key=lambda it: (_number_key(it[1]), it[0]))
    for _, test in indexed:
        name = clean_text(test["name"]).strip()
        withheld = test.get("visibility", default_visibility) in WITHHELD
        q = question(test["tags"][0])
        part = _part(test, q.stem)
        part = registry.heading(part) if part else ""
        q.checks.append(CheckView(
            label=part if part and part != q.label else "",
            title=name.removeprefix(f"{part}: ") if part else name,
            score=test["score"],
            max_score=test["max_score"],
            passed=test["status"] == "passed",
            withheld=withheld,
            output="" if withheld else _truncate(clean_text(test.get("output", "")).strip("\n")),
            not_run=is_not_run(test),
        ))

    meta_questions = meta.get("questions")
    if isinstance(meta_questions, dict):
        for stem in meta_questions:
            if stem in registry.stems():
                question(stem)
    plots = meta.get("plots") if isinstance(meta.get("plots"), dict) else {}
    # a student's prints can carry a hidden check's inputs, so they follow stdout_visibility (Gradescope's default
    # for it is hidden)
    show_stdout = results.get("stdout_visibility", "hidden") not in WITHHELD
    for stem, q in questions.items():
        mq = _meta_question(meta, stem)
        q.source = clean_text(_str(mq.get("source")))
        q.notes = [clean_text(s) for s in _strs(mq.get("notes"))]
        q.worker = clean_text(_worker_problem(mq))
        q.error = _truncate(clean_text(_str(mq.get("error"))).strip("\n"))
        q.stdout = _truncate(clean_text(_str(mq.get("stdout"))).strip("\n")) if show_stdout else ""
        q.plots = [_plot(sub_dir, q.label, rel) for rel in _strs(plots.get(stem))]

    order = {stem: i for i, stem in enumerate(registry.stems())}
    view.questions = sorted(questions.values(), key=lambda q: (order.get(q.stem, len(order)), q.stem))
    view.score = results["score"]
    view.max_score = results.get("max_score", math.fsum(q.max_score for q in view.questions))
    view.output = clean_text(results.get("output", "")).strip()
    view.general[:0] = late_feedback(sub_dir, view.score, view.max_score)
    return view


def late_feedback(sub_dir: Path, score: float, max_score: float) -> list[str]:
    """The feedback's one line about lateness (grader.intake.record), with the points it costs; or none."""
    line = intake_record.late_line(sub_dir)
    if not line:
        return []
    penalty = intake_record.penalty(sub_dir, score, max_score)
    cost = (f": {fmt_points(penalty)} points deducted, {fmt_points(score - penalty)} / {fmt_points(max_score)} "
            f"after the penalty" if penalty else "")
    return [clean_text(f"Late: {line}{cost}.")]


_MD_SPECIAL = re.compile(r"([\\`*~\[\]<>|&])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_MD_BLOCK_START = re.compile(r"^([#+-])|^(\d{1,9})([.)])(?=\s|$)")
MARKS = {"passed": "✔", "partial": "✘", "failed": "✘", "not-run": "–"}
ALL_PASSED_TEXT = "Every check passed. Well done."
FAILED_TEXT = "Each failed check below shows what was expected, what came back, and a hint about where to look."
ERROR_TEXT = "The grader reported this problem with your code for this question:"
HIDDEN_TEXT = "Hidden checks count towards your score; their details are not shown here."
PROBLEM_TEXT = ("Your results could not be read. This is a problem with the grading, not with your code: please let "
                "the course staff know.")


def md_inline(s: str) -> str:
    """``s`` as literal Markdown text on one line: nothing in it can become markup or raw HTML."""
    s = _MD_SPECIAL.sub(lambda m: "\\" + m[0], " ".join(s.split()))
    return _MD_BLOCK_START.sub(lambda m: "\\" + m[1] if m[1] else f"{m[2]}\\{m[3]}", s)


def md_code(text: str, info: str = "text") -> str:
    """A fenced block that ``text`` cannot close early, however many backticks it contains."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def md_code_span(s: str) -> str:
    """``s`` as inline code, delimited by a backtick run longer than any inside it."""
    s = " ".join(s.split())
    ticks = "`" * (max((len(run) for run in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{ticks}{pad}{s}{pad}{ticks}"


def is_not_run(test: dict) -> bool:
    """A results.json test that was skipped (see grader.checking.scoring.not_run_reason), not failed."""
    extra = test.get("extra_data")
    return isinstance(extra, dict) and bool(extra.get("not_run"))


def total_lines(view: FeedbackView) -> list[str]:
    """The totals in words, the same in every page: the course total when written answers exist, then the
    autograded and written points, and what was not run."""
    lines = []
    late = f" − late penalty {fmt_points(view.late_penalty)}" if view.late_penalty else ""
    if view.written:
        lines.append(f"Course total: {fmt_points(view.course_score)} / {fmt_points(view.course_max)} points = "
                     f"autograded {fmt_points(view.score)} / {fmt_points(view.max_score)}{late} + written "
                     f"{fmt_points(view.written_score)} / {fmt_points(view.written_max)}"
                     + (f" ({view.n_unscored} written answer{'s' * (view.n_unscored != 1)} not scored yet)"
                        if view.n_unscored else ""))
    else:
        lines.append(f"Total: {fmt_points(view.score - view.late_penalty)} / {fmt_points(view.max_score)} points"
                     + (f" = autograded {fmt_points(view.score)}{late}" if late else ""))
    if view.not_run_points:
        run = view.max_score - view.not_run_points
        lines.append(f"Autograded {fmt_points(view.score)} of the {fmt_points(run)} points run; checks worth "
                     f"{fmt_points(view.not_run_points)} points were not run (not counted as failed).")
    return lines


def _markdown_written(view: FeedbackView) -> list[str]:
    if not view.written:
        return []
    out = ["## Written answers", "", "| Answer | Points | TA comment |", "|:--|--:|:--|"]
    for m in view.written:
        points = (f"{fmt_points(m.score)} / {fmt_points(m.max_points)}" if m.score is not None
                  else f"not scored yet / {fmt_points(m.max_points)}")
        out.append(f"| {md_inline(m.label)} | {points} | {md_inline(m.comment)} |")
    return out + [""]


def _md_link_target(rel: str) -> str:
    return "<" + rel.replace("\\", "/").replace("<", "%3C").replace(">", "%3E") + ">"


def render_markdown(view: FeedbackView) -> str:
    out: list[str] = [f"# Feedback for {md_inline(view.student_id)}", ""]
    if view.problem:
        out += [PROBLEM_TEXT, "", md_code(view.problem), ""]
    else:
        out += _markdown_body(view)
    footer = [s for s in (f"nn-autograder-kit {md_inline(view.kit_version)}" if view.kit_version else "",
                          f"submission digest {md_code_span(view.digest)}" if view.digest else "") if s]
    if footer:
        out += ["---", "", " · ".join(footer), ""]
    return "\n".join(out)


def _markdown_body(view: FeedbackView) -> list[str]:
    first, *rest = total_lines(view)
    out = [f"**{md_inline(first)}**", ""] + [line for r in rest for line in (md_inline(r), "")]
    if view.output:
        out += [md_inline(view.output), ""]
    out += [ALL_PASSED_TEXT if view.all_passed else FAILED_TEXT, ""]
    if view.general:
        out += ["**About your submission**", ""] + [f"- {md_inline(s)}" for s in view.general] + [""]

    out += ["| Question | Points | Checks passed |", "|:--|--:|--:|"]
    for q in view.questions:
        passed = q.passed_text + (f" · {q.worker_word}" if q.worker_word else "")
        out.append(f"| {q.label} · {md_inline(q.title)} | {fmt_points(q.score)} / {fmt_points(q.max_score)} "
                   f"| {passed} |")
    out.append("")

    for q in view.questions:
        out += [f"## {q.label} · {md_inline(q.title)}: {fmt_points(q.score)} / {fmt_points(q.max_score)}", ""]
        if q.source_text:
            out += [md_inline(q.source_text), ""]
        if q.notes:
            out += [f"- {md_inline(n)}" for n in q.notes] + [""]
        if q.worker_text:
            out += [f"> {md_inline(q.worker_text)}", ""]
        if q.error:
            out += [ERROR_TEXT, "", md_code(q.error), ""]
        if q.checks:
            out += ["### Checks", ""]
        for c in q.checks:
            label = f"**{c.label}** " if c.label else ""
            line = f"{MARKS[c.state]} {label}{md_inline(c.title)} ({fmt_points(c.score)} / {fmt_points(c.max_score)})"
            if c.withheld:
                line += " *hidden check: its details are not shown*"
            out += [line, ""]
            if c.output:
                out += [md_code(c.output), ""]
        if q.stdout:
            out += ["**What your code printed** (the beginning):", "", md_code(q.stdout), ""]
        if q.plots:
            out += ["### Plots", ""]
        for p in q.plots:
            if p.data_uri:
                out += [f"![{md_inline(p.caption)}]({_md_link_target(p.path)})", ""]
            else:
                out += [f"*No plot: {md_code_span(p.path)} was not produced; your code may have stopped before "
                        "drawing it.*", ""]
    out += _markdown_written(view)
    if view.has_withheld:
        out += [HIDDEN_TEXT, ""]
    return out


def _pct(score: float, max_score: float) -> str:
    return f"{100 * min(max(score / max_score, 0.0), 1.0):.1f}" if max_score > 0 else "0"


def render_html(view: FeedbackView) -> str:
    return render("feedback.html", v=view, pts=fmt_points, pct=_pct, marks=MARKS, problem_text=PROBLEM_TEXT,
                  totals=total_lines(view),
                  all_passed_text=ALL_PASSED_TEXT, failed_text=FAILED_TEXT, hidden_text=HIDDEN_TEXT,
                  error_text=ERROR_TEXT)


def write_feedback(sub_dir: Path, written: list | None = None) -> None:
    """Write ``sub_dir/feedback.md`` and ``sub_dir/feedback.html`` from its results.json and meta.json, with the
    written answers' scores and comments ``written`` (WrittenMark per written question) when given.

    A missing or malformed results.json gives a short feedback saying so instead of an exception.
    """
    sub_dir = Path(sub_dir)
    view = build_view(sub_dir)
    view.written = list(written or [])
    if not view.problem:
        view.late_penalty = intake_record.penalty(sub_dir, view.score, view.max_score)
    atomic_write_text(sub_dir / "feedback.md", render_markdown(view))
    atomic_write_text(sub_dir / "feedback.html", render_html(view))


def gradebook_row(sub_dir: Path) -> list[str]:
    """One gradebook row; a submission without usable results gets empty score cells and says why in ``note``."""
    sub_dir = Path(sub_dir)
    student_id = sub_dir.name
    try:
        results = load_results(sub_dir)
    except ResultsError as exc:
        return [csv_safe(student_id), *[""] * (len(registry.stems()) + 3),
                csv_safe(f"not graded: {_note_phrase(str(exc))}", NOTE_CHARS)]
    meta, meta_problem = load_meta(sub_dir)
    notes = [_note_phrase(meta_problem)] if meta_problem else []
    notes += [f"{stem}: {_note_phrase(w)}" for stem in registry.stems()
              if _meta_question(meta, stem).get("source") != "missing"
              and (w := _worker_problem(_meta_question(meta, stem)))]
    per_question = {stem: [] for stem in registry.stems()}
    for test in results["tests"]:
        per_question[test["tags"][0]].append(test["score"])
    notes += not_run_notes(results)
    max_score = results.get("max_score", math.fsum(t["max_score"] for t in results["tests"]))
    late, notes = intake_cells(sub_dir, results["score"], max_score, notes)
    return [csv_safe(student_id), *(fmt_points(math.fsum(per_question[s])) for s in registry.stems()),
            fmt_points(late), fmt_points(results["score"] - late), fmt_points(max_score),
            csv_safe("; ".join(notes), NOTE_CHARS)]


def intake_cells(sub_dir: Path, score: float, max_score: float, notes: list[str]) -> tuple[float, list[str]]:
    """The late penalty in points and the note with the intake's lines (lateness, duplicates, roster) first."""
    penalty = intake_record.penalty(sub_dir, score, max_score)
    lines = [intake_record.late_note(sub_dir)] + intake_record.notes(sub_dir)
    return penalty, [_note_phrase(line) for line in lines if line] + notes


def not_run_notes(results: dict) -> list[str]:
    """The gradebook's note for checks not run: ``not run: q3 1 check (6 pts)``, and the points that were run."""
    skipped: dict[str, list[float]] = {}
    for test in results["tests"]:
        if is_not_run(test):
            skipped.setdefault(test["tags"][0], []).append(test["max_score"])
    if not skipped:
        return []
    max_score = results.get("max_score", math.fsum(t["max_score"] for t in results["tests"]))
    run = max_score - math.fsum(p for ps in skipped.values() for p in ps)
    parts = [f"{registry.by_stem(stem).label} {len(ps)} check{'s' * (len(ps) != 1)} ({fmt_points(math.fsum(ps))} "
             f"pts)" for stem, ps in skipped.items()]
    return [f"not run: {', '.join(parts)}; total of {fmt_points(run)} run"]


def _note_phrase(text: str) -> str:
    """A short phrase for the gradebook's note from text a student's code may have written (an exception's
    message): its first line, sanitised and cut at :data:`NOTE_PHRASE_CHARS`; the feedback has the whole text."""
    first = clean_text(text).strip().split("\n", 1)[0]
    return csv_safe(first, NOTE_PHRASE_CHARS)


def write_gradebook(out_dir: Path, student_dirs: list[Path]) -> None:
    """``out_dir/gradebook.csv``: one row per submission, sorted by id, with a ``note`` column for the instructor."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(gradebook_header())
    for sub_dir in sorted(map(Path, student_dirs), key=lambda p: p.name):
        writer.writerow(gradebook_row(sub_dir))
    atomic_write_text(Path(out_dir) / "gradebook.csv", buf.getvalue())


def write_junit(out_dir: Path, student_dirs: list[Path]) -> None:
    """``out_dir/junit.xml``: a test suite per submission and a test case per check, with full failure output.

    This file is for instructors and CI, so hidden checks are included. A submission without usable results is one
    errored test case named ``results.json``.
    """
    xml = JUnitXml("nn-autograder-kit")
    times: dict[str, float] = {}
    for sub_dir in sorted(map(Path, student_dirs), key=lambda p: p.name):
        student_id = clean_text(sub_dir.name)
        suite = TestSuite(student_id)
        try:
            results = load_results(sub_dir)
        except ResultsError as exc:
            case = TestCase("results.json", classname=f"{student_id}.grader")
            case.result = [Error(message=clean_text(str(exc)), type_="ResultsError")]
            suite.add_testcase(case)
        else:
            suite.add_property("score", fmt_points(results["score"]))
            suite.add_property("max_score", fmt_points(
                results.get("max_score", math.fsum(t["max_score"] for t in results["tests"]))))
            times[student_id] = float(results.get("execution_time", 0.0))
            for test in results["tests"]:
                case = TestCase(clean_text(test["name"]), classname=f"{student_id}.{test['tags'][0]}")
                if is_not_run(test):
                    case.result = [Skipped(message=clean_text(test.get("output", "")) or "not run")]
                elif test["status"] != "passed":
                    failure = Failure(message=f"scored {fmt_points(test['score'])} of "
                                              f"{fmt_points(test['max_score'])} points", type_="failed")
                    failure.text = clean_text(test.get("output", ""))
                    case.result = [failure]
                suite.add_testcase(case)
        xml.add_testsuite(suite)
    xml.update_statistics()
    # update_statistics sums the (absent) test case times; the grader only knows each submission's total
    for suite in xml:
        suite.time = round(times.get(suite.name, 0.0), 3)
    xml.time = round(math.fsum(times.values()), 3)
    buf = io.BytesIO()
    xml.write(buf)
    atomic_write_bytes(Path(out_dir) / "junit.xml", buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Re-render feedback, gradebook.csv and junit.xml from a grading "
                                                 "output directory (nothing is re-graded).")
    parser.add_argument("out", type=Path, help="the directory `make grade` wrote (default there: grades/)")
    args = parser.parse_args(argv)
    if not args.out.is_dir():
        print(f"error: {args.out} is not a directory", file=sys.stderr)
        return 2
    subs = sorted(p for p in args.out.iterdir()
                  if p.is_dir() and ((p / "results.json").exists() or (p / "meta.json").exists()))
    for sub in subs:
        write_feedback(sub)
    write_gradebook(args.out, subs)
    write_junit(args.out, subs)
    print(f"rendered feedback for {len(subs)} submissions, {args.out / 'gradebook.csv'} and {args.out / 'junit.xml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
