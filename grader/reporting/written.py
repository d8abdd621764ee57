"""The written answers, for the TAs: one page per written question with every submission's answer beside the
reference answer and its rubric, and the TAs' scores merged into the gradebook. Never runs student code.

Where things come from:

- the reference notebooks ``solutions/<stem>.ipynb``: a Markdown cell tagged ``answer:<id>`` (``q1a``, ``q1b``,
  ``q1c``, ``q2``) holds the reference answer between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->``; the
  cell tagged ``rubric:<id>`` holds its rubric, a Markdown list whose items start with the points, ``- **1 pt**: ...``;
  the Markdown cell just before the answer cell is the question as the students read it;
- the student notebooks ``assignments/<stem>.ipynb``: the handout's own text, so that Markdown a student added can be
  told apart from it;
- ``OUT/<id>/answers.json``, written by the grader: ``{stem: [{"tags": [...], "source": str, "index": int}]}``, every
  Markdown cell of the submitted notebook (an optional ``"attachments"`` entry, the cell's pasted images, is shown
  when present).

What is written (``write_written_reports``):

- ``OUT/written/<id>.html`` per written question: the question, the rubric with its points and the reference answer
  in a column that stays in view, and every submission's answer beside it. An answer is *answered*, *empty* (the
  answer cell is still the placeholder) or *missing* (no notebook, or no cell with the answer's tag), and the last
  two say so; Markdown the student added outside the tagged cell is shown with the answer nearest to it.
- ``OUT/written/index.html``: every submission against every written question, with links.

Math (``$...$``, ``$$...$$`` and bare ``\\begin{align}`` environments) becomes MathML on the server with latex2mathml,
and the MathML is rebuilt from a whitelist of elements and attributes (no ``voffset``, sizes and spaces non-negative
and at most a few em, so nothing is drawn outside the formula); raw HTML in an answer is shown as text; links are
shown as their text and address, never as links; images
are only those pasted into the notebook, as data URIs; and the pages carry the same Content-Security-Policy as the
feedback (no script, no network). TeX that cannot be converted is shown as code, marked.

Manual scores: a CSV with a ``student_id`` column and one column per written question (``q1a,q1b,q1c,q2``); an empty
cell means "not scored yet". ``read_manual_scores`` validates it, ``merge_manual_scores`` appends the columns to
``gradebook.csv`` with ``total_with_written`` and ``max_with_written`` (``total`` and ``max`` stay the autograded
points). ``total_with_written`` is filled only for a submission with every written question scored.

    python -m grader.reporting.written grades/ [--manual-scores scores.csv]   # (re-)write the pages from a grading output
"""

from __future__ import annotations

import argparse
import base64
import csv
import difflib
import hashlib
import io
import json
import math
import re
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import cache
from html import escape
from pathlib import Path

import latex2mathml.converter
import nbformat
from markdown_it import MarkdownIt
from markupsafe import Markup
from mdit_py_plugins.amsmath import amsmath_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin

from grader import registry
from grader.files import atomic_write_text, csv_key, csv_safe
from grader.reporting.html import CSP, render
from grader.reporting.report import IMAGE_TYPES, clean_text, fmt_points
from nnkit.stubgen import ANSWER_TAG, MD_BEGIN, MD_END, PLACEHOLDER, RUBRIC_TAG, tagged_id

SOLUTIONS = registry.SOLUTIONS_DIR
ASSIGNMENTS = registry.REPO / "assignments"
WRITTEN_DIR = "written"
TOTAL_COLUMNS = ("total_with_written", "max_with_written")
_RUBRIC_ITEM = re.compile(r"^\*\*(?P<points>\d+(?:\.\d+)?)\s*pts?\*\*\s*:?\s*(?P<text>.*)$", re.DOTALL)


class RubricError(ValueError):
    """A rubric cell that does not say how many points each item is worth."""


class ManualScoresError(ValueError):
    """A manual-scores CSV that cannot be used; the message names the file, row and column."""


# --- the written questions, from the reference notebooks ---------------------------------------------------------

@dataclass(frozen=True)
class RubricItem:
    points: float
    text: str  # Markdown


@dataclass(frozen=True)
class WrittenQuestion:
    id: str  # "q1a"
    stem: str
    prompt: str  # Markdown: the question as the students read it
    reference: str  # Markdown: the reference answer
    rubric: tuple[RubricItem, ...]
    attachments: dict = field(default_factory=dict, compare=False, hash=False)
    handout_kept: tuple[str, ...] = ()  # lines of the answer cell outside the solution region

    @property
    def label(self) -> str:
        m = re.fullmatch(r"q(\d+)([a-z]?)", self.id)
        return (f"Q{m[1]}" + (f" ({m[2]})" if m[2] else "")) if m else self.id

    @property
    def title(self) -> str:
        return registry.by_stem(self.stem).title

    @property
    def max_points(self) -> float:
        return math.fsum(item.points for item in self.rubric)


def parse_rubric(text: str, where: str = "rubric") -> tuple[RubricItem, ...]:
    """The items of a rubric cell: top-level list items ``- **N pt(s)**: text``; other lines before the list are its
    heading. An item without points, or a rubric without items, is a RubricError."""
    items: list[list[str]] = []
    for line in text.splitlines():
        if re.match(r"^[-*+]\s", line):
            items.append([line[2:].strip()])
        elif items and (line.startswith((" ", "\t")) or not line.strip()):
            items[-1].append(line.strip())
        elif items and line.strip():
            raise RubricError(f"{where}: text after the rubric's list: {line.strip()!r}")
    rubric = []
    for lines in items:
        body = " ".join(part for part in lines if part)
        m = _RUBRIC_ITEM.match(body)
        if not m:
            raise RubricError(f"{where}: the item {body[:60]!r} does not start with its points, e.g. '- **1 pt**: ...'")
        rubric.append(RubricItem(float(m["points"]), m["text"]))
    if not rubric:
        raise RubricError(f"{where}: no items; write one list item per point, e.g. '- **1 pt**: ...'")
    return tuple(rubric)


def _split_answer_cell(source: str) -> tuple[str, tuple[str, ...]]:
    """(the solution region's text, the cell's lines outside it)."""
    inside, region, kept = False, [], []
    for line in source.splitlines():
        if MD_BEGIN.match(line):
            inside = True
        elif MD_END.match(line):
            inside = False
        elif inside:
            region.append(line)
        elif line.strip():
            kept.append(line.strip())
    return "\n".join(region).strip("\n"), tuple(kept)


@cache
def _load_questions(solutions_dir: Path) -> dict[str, WrittenQuestion]:
    questions: dict[str, WrittenQuestion] = {}
    for stem in registry.stems():
        path = solutions_dir / f"{stem}.ipynb"
        nb = nbformat.read(path, as_version=4)
        rubrics = {tagged_id(c, RUBRIC_TAG): c for c in nb.cells if tagged_id(c, RUBRIC_TAG)}
        previous_markdown = ""
        for number, cell in enumerate(nb.cells, 1):
            key = tagged_id(cell, ANSWER_TAG)
            if key:
                if key not in rubrics:
                    raise RubricError(f"{path.name}: answer {key!r} has no rubric:{key} cell")
                parts = registry.by_stem(stem).parts
                if key not in parts:
                    raise RubricError(f"{path.name}: answer:{key} is not a part of {stem}; its question.toml lists "
                                      f"{', '.join(parts)}")
                reference, kept = _split_answer_cell(cell.source)
                questions[key] = WrittenQuestion(
                    id=key, stem=stem, prompt=previous_markdown, reference=reference,
                    rubric=parse_rubric(rubrics[key].source, f"{path.name} rubric:{key}"),
                    attachments=dict(cell.get("attachments", {})), handout_kept=kept)
            if cell.cell_type == "markdown" and not key and not tagged_id(cell, RUBRIC_TAG):
                previous_markdown = cell.source
    return questions


def load_questions(solutions_dir: Path = SOLUTIONS) -> dict[str, WrittenQuestion]:
    """The written questions in notebook order, ``{id: WrittenQuestion}``."""
    return _load_questions(Path(solutions_dir).resolve())


@cache
def _handout_markdown(assignments_dir: Path, stem: str) -> frozenset[str]:
    path = assignments_dir / f"{stem}.ipynb"
    if not path.exists():
        return frozenset()
    nb = nbformat.read(path, as_version=4)
    return frozenset(_normal(c.source) for c in nb.cells if c.cell_type == "markdown")


def _normal(text: str) -> str:
    return " ".join(text.split())


# the CPU time one submission's cells may spend on near-handout comparisons; past it a cell that is not exactly the
# handout's is shown to the TA as the student's
HANDOUT_BUDGET_SECONDS = 2.0
_NEAR = 0.85


def _bigrams(text: str) -> set[tuple[str, str]]:
    words = text.split()
    return set(zip(words, words[1:]))


class _Handout:
    """Tells the handout's cells (``handout``: normalised texts) from a student's, within a CPU-time budget."""

    def __init__(self, handout: frozenset[str] | set[str], deadline: float):
        self.cells = [(cell, _bigrams(cell)) for cell in handout]
        self.exact = frozenset(handout)
        self.deadline = deadline  # in time.process_time()

    def __contains__(self, text: str) -> bool:
        """True if ``text`` is one of the handout's cells, or nearly (a notebook from an earlier version of it)."""
        if text in self.exact:
            return True
        bigrams = None
        for cell, cell_bigrams in self.cells:
            if 2 * min(len(text), len(cell)) <= _NEAR * (len(text) + len(cell)):
                continue  # the lengths alone bound the ratio
            bigrams = _bigrams(text) if bigrams is None else bigrams
            # a copy edited here and there keeps most word pairs; words shuffled (to be costly) keep few
            if 2 * len(bigrams & cell_bigrams) < 0.5 * (len(bigrams) + len(cell_bigrams)):
                continue
            if time.process_time() > self.deadline:
                return False
            matcher = difflib.SequenceMatcher(None, text, cell, autojunk=False)
            if matcher.quick_ratio() > _NEAR and matcher.ratio() > _NEAR:
                return True
        return False


# --- one submission's answers -------------------------------------------------------------------------------------

@dataclass
class ExtraCell:
    index: int
    source: str
    attachments: dict


@dataclass
class StudentAnswer:
    student_id: str
    status: str  # "answered", "empty" or "missing"
    reason: str = ""  # why it is empty or missing, for the TA
    source: str = ""  # the answer's Markdown (placeholder removed)
    attachments: dict = field(default_factory=dict)
    cells: list[int] = field(default_factory=list)  # 1-based cell numbers in the student's notebook
    extra: list[ExtraCell] = field(default_factory=list)
    score: float | None = None
    comment: str = ""

    @property
    def anchor(self) -> str:
        return "student-" + re.sub(r"[^A-Za-z0-9_-]", lambda m: f".{ord(m[0]):x}", self.student_id)


def _read_answers_json(sub_dir: Path) -> tuple[dict | None, str]:
    path = sub_dir / "answers.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, ("the grader kept no written answers for this submission (answers.json is missing; "
                      "a submission graded by an older kit needs re-grading with --no-cache)")
    except (OSError, ValueError) as exc:
        return None, f"answers.json could not be read ({exc})"
    if not isinstance(data, dict):
        return None, "answers.json is not a JSON object"
    return data, ""


def _cells(data: dict, stem: str) -> list[dict]:
    cells = data.get(stem)
    if not isinstance(cells, list):
        return []
    good = []
    for cell in cells:
        if isinstance(cell, dict) and isinstance(cell.get("source"), str):
            tags = cell.get("tags") if isinstance(cell.get("tags"), list) else []
            attachments = cell.get("attachments") if isinstance(cell.get("attachments"), dict) else {}
            index = cell.get("index") if isinstance(cell.get("index"), int) else 0
            good.append({"tags": [t for t in tags if isinstance(t, str)], "source": clean_text(cell["source"]),
                         "index": index, "attachments": attachments})
    return good


def _answer_text(source: str, question: WrittenQuestion) -> str:
    """The student's own text: the cell without the placeholder and without the handout lines kept around it."""
    kept = set(question.handout_kept) | {PLACEHOLDER}
    lines = [line for line in source.splitlines() if line.strip() not in kept]
    return "\n".join(lines).strip("\n")


def collect_answers(sub_dir: Path, questions: dict[str, WrittenQuestion],
                    assignments_dir: Path = ASSIGNMENTS) -> dict[str, StudentAnswer]:
    """``{question id: StudentAnswer}`` for one submission directory ``OUT/<id>``."""
    sub_dir = Path(sub_dir)
    student_id = sub_dir.name
    data, problem = _read_answers_json(sub_dir)
    if data is None:
        return {q: StudentAnswer(student_id, "missing", problem) for q in questions}
    out: dict[str, StudentAnswer] = {}
    by_stem: dict[str, list[str]] = {}
    deadline = time.process_time() + HANDOUT_BUDGET_SECONDS
    for key, question in questions.items():
        by_stem.setdefault(question.stem, []).append(key)
    for stem, keys in by_stem.items():
        cells = _cells(data, stem)
        handout = _handout_markdown(Path(assignments_dir).resolve(), stem)
        if not cells:
            for key in keys:
                out[key] = StudentAnswer(student_id, "missing",
                                         f"no answer submitted: the submission has no {stem}.ipynb notebook "
                                         f"(or it holds no Markdown cells)")
            continue
        positions: dict[str, list[int]] = {}
        for key in keys:
            tagged = [c for c in cells if f"{ANSWER_TAG}{key}" in c["tags"]]
            positions[key] = [c["index"] for c in tagged]
            if not tagged:
                out[key] = StudentAnswer(student_id, "missing",
                                         f"no answer submitted: {stem}.ipynb has no cell tagged {ANSWER_TAG}{key} "
                                         f"(the answer cell was deleted, or its tag removed)")
                continue
            texts = [_answer_text(c["source"], questions[key]) for c in tagged]
            attachments = {name: v for c in tagged for name, v in c["attachments"].items()}
            text = "\n\n".join(t for t in texts if t.strip())
            answer = StudentAnswer(student_id, "answered" if text.strip() else "empty", source=text,
                                   attachments=attachments, cells=[c["index"] for c in tagged])
            if not text.strip():
                answer.reason = "answer cell left empty" + (" (it still holds the placeholder)" if any(
                    PLACEHOLDER in c["source"] for c in tagged) else "")
            out[key] = answer
        # Markdown the student added instead of (or besides) the answer cell goes with the nearest answer cell
        known = _Handout(handout | {_normal(q.prompt) for q in questions.values()}, deadline)
        for cell in cells:
            if any(t.startswith(ANSWER_TAG) for t in cell["tags"]) or not cell["source"].strip():
                continue
            if _normal(cell["source"]) in known:
                continue
            extra = ExtraCell(cell["index"], cell["source"], cell["attachments"])
            placed = [(abs(i - cell["index"]), i > cell["index"], key) for key in keys for i in positions[key]]
            targets = [min(placed)[2]] if placed else keys  # no tagged cells at all: show it with every answer
            for key in targets:
                out[key].extra.append(extra)
    for answer in out.values():
        if answer.extra and answer.status != "answered":
            answer.reason += "; but the student added Markdown nearby, shown below"
    return out


# --- Markdown and math to safe HTML -------------------------------------------------------------------------------

_MATHML_ELEMENTS = frozenset("""math mrow mi mn mo ms mtext mspace msub msup msubsup mfrac msqrt mroot mover munder
    munderover mtable mtr mtd mlabeledtr mstyle mpadded mphantom menclose merror mmultiscripts mprescripts none
    semantics annotation""".split())
_MATHML_ATTRIBUTES = frozenset("""display mathvariant stretchy fence form separator linebreak displaystyle
    columnalign rowalign columnlines rowlines frame notation accent accentunder movablelimits symmetric largeop open
    close align equalrows equalcolumns rowspan columnspan side encoding""".split())
# Attributes that size or move what is drawn (voffset is never kept): a length list, each length non-negative and at
# most _MAX_EM em, so an answer cannot draw outside its formula (over the card's head, say a fake TA score).
_MATHML_LENGTHS = frozenset("""lspace rspace width height depth minsize maxsize mathsize linethickness rowspacing
    columnspacing framespacing""".split())
_MAX_EM = 3.0
_EM_PER_UNIT = {"em": 1.0, "": 1.0, "ex": 0.5, "px": 1 / 16, "pt": 1 / 12, "pc": 1.0, "mm": 1 / 4.23, "cm": 2.36,
                "in": 6.0, "mu": 1 / 18, "%": 0.01}
_LENGTH = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(em|ex|px|pt|pc|mm|cm|in|mu|%)?")
_NAMED_SPACES = frozenset("""veryverythinmathspace verythinmathspace thinmathspace mediummathspace thickmathspace
    verythickmathspace veryverythickmathspace thin medium thick auto""".split())
_MATH_NS = "{http://www.w3.org/1998/Math/MathML}"


def _bounded_length(value: str) -> bool:
    """True if ``value`` is a list of lengths, each named (not a negative space) or at most _MAX_EM em."""
    parts = value.split()
    for part in parts:
        m = _LENGTH.fullmatch(part.lower())
        if part.lower() not in _NAMED_SPACES and not (
                m and float(m[1]) * _EM_PER_UNIT[m[2] or ""] <= _MAX_EM):
            return False
    return bool(parts)


def _mathml_attribute(name: str, value: str, sized: bool) -> bool:
    """Whether the attribute ``name="value"`` is kept; ``sized``: an enclosing element already sets ``mathsize``
    (nested sizes multiply, so only the outermost is kept)."""
    if name == "mathsize" and sized:
        return False
    if name in _MATHML_LENGTHS:
        return _bounded_length(value)
    if name == "scriptlevel":  # a negative level enlarges the text
        return re.fullmatch(r"\+?[0-2]", value.strip()) is not None
    return name in _MATHML_ATTRIBUTES


def _literal(element: ET.Element) -> str:
    """The element as the markup it was written as, e.g. ``<script>alert(1)</script>``."""
    tag = element.tag.removeprefix(_MATH_NS)
    attributes = "".join(f' {name}="{value}"' for name, value in element.attrib.items())
    inner = (element.text or "") + "".join(_literal(child) + (child.tail or "") for child in element)
    return f"<{tag}{attributes}>{inner}</{tag}>"


def _safe_mathml(element: ET.Element, sized: bool = False) -> str:
    """``element`` serialised again with only whitelisted MathML elements and attributes; text is escaped, and an
    element outside the whitelist (say ``<script>`` from ``\\text{<script>}``) is shown as the literal text it was."""
    tag = element.tag.removeprefix(_MATH_NS)
    if tag not in _MATHML_ELEMENTS:
        return f"<mtext>{escape(_literal(element))}</mtext>"
    kept = {name: value for name, value in element.attrib.items() if _mathml_attribute(name, value, sized)}
    attributes = "".join(f' {name}="{escape(value)}"' for name, value in kept.items())
    if tag == "math":
        attributes = ' xmlns="http://www.w3.org/1998/Math/MathML"' + attributes
    sized = sized or "mathsize" in kept
    inner = escape(element.text or "") + "".join(_safe_mathml(child, sized) + escape(child.tail or "")
                                                 for child in element)
    return f"<{tag}{attributes}>{inner}</{tag}>"


def tex_to_mathml(tex: str, display: bool) -> str:
    """Safe MathML for ``tex``, or the TeX as marked code when it cannot be converted."""
    try:
        mathml = latex2mathml.converter.convert(tex, display="block" if display else "inline")
        return _safe_mathml(ET.fromstring(mathml))
    except Exception as exc:  # latex2mathml raises many types on bad TeX; the page must still render
        reason = f"this TeX could not be rendered ({type(exc).__name__})"
        tag = "pre" if display else "code"
        return f'<{tag} class="tex-error" title="{escape(reason)}">{escape(tex)}</{tag}>'


def _image_renderer(self, tokens, idx, options, env):
    token = tokens[idx]
    src = token.attrGet("src") or ""
    alt = self.renderInlineAsText(token.children or [], options, env)
    attachments = env.get("attachments", {})
    if src.startswith("attachment:"):
        name = src[len("attachment:"):]
        bundle = attachments.get(name)
        if isinstance(bundle, dict):
            for mime, data in bundle.items():
                if mime in IMAGE_TYPES and isinstance(data, str) and re.fullmatch(r"[A-Za-z0-9+/=\s]*", data):
                    uri = f"data:{mime};base64,{''.join(data.split())}"
                    return f'<img src="{escape(uri)}" alt="{escape(alt)}">'
        return (f'<span class="noimage">[image {escape(name)}: pasted into the notebook, but the grader did not keep '
                f'its data]</span>')
    return (f'<span class="noimage">[image {escape(src)}: not shown; only images pasted into the notebook '
            f'are]</span>')


def _link_open(self, tokens, idx, options, env):
    token = tokens[idx]
    env.setdefault("links", []).append("" if token.markup == "autolink" else token.attrGet("href") or "")
    return ""


def _link_close(self, tokens, idx, options, env):
    """A link is never kept as a link: its text, then its address as text (an autolink is only its address)."""
    href = env["links"].pop() if env.get("links") else ""
    return f' <span class="url">({escape(href)})</span>' if href else ""


@cache
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable(["table", "strikethrough"])
    # Jupyter's rules: $...$ may have spaces inside and digits around it; $$...$$ may sit inside a paragraph
    md.use(dollarmath_plugin, allow_space=True, allow_digits=True, double_inline=True,
           renderer=lambda content, opts: tex_to_mathml(content, bool(opts.get("display_mode"))))
    md.use(amsmath_plugin, renderer=lambda content: tex_to_mathml(content, True))
    md.add_render_rule("math_inline", lambda self, t, i, o, e: tex_to_mathml(t[i].content, False))
    md.add_render_rule("math_inline_double",
                       lambda self, t, i, o, e: f'<span class="display">{tex_to_mathml(t[i].content, True)}</span>')
    md.add_render_rule("math_block", lambda self, t, i, o, e: f'<div class="display">'
                                                              f'{tex_to_mathml(t[i].content, True)}</div>\n')
    md.add_render_rule("math_block_label", lambda self, t, i, o, e: f'<div class="display">'
                                                                    f'{tex_to_mathml(t[i].content, True)}</div>\n')
    md.add_render_rule("amsmath", lambda self, t, i, o, e: f'<div class="display">'
                                                           f'{tex_to_mathml(t[i].content, True)}</div>\n')
    md.add_render_rule("image", _image_renderer)
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("link_close", _link_close)
    return md


def render_markdown(text: str, attachments: dict | None = None) -> str:
    """Markdown with math to HTML: raw HTML shown as text, math as MathML, images only from ``attachments``."""
    return _markdown().render(clean_text(text), {"attachments": attachments or {}})


# --- manual scores ------------------------------------------------------------------------------------------------

COMMENT_SUFFIX = "_comment"
# where the TAs' merged scores and comments are kept, inside the written pages' folder (a name no submission can have)
STORE = "manual-scores.csv"
COMMENT_CHARS = 2000


@dataclass
class ManualSheet:
    """The TAs' scores ``{student_id: {question id: points}}`` and comments ``{student_id: {question id: text}}``."""
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    comments: dict[str, dict[str, str]] = field(default_factory=dict)


def _delimiter(text: str, path: Path) -> str:
    """"," or ";" (a spreadsheet set to a language whose decimal mark is a comma saves semicolons), from the header."""
    first = text.split("\n", 1)[0]
    if ";" in first and "," not in first:
        return ";"
    if "\t" in first and "," not in first:
        raise ManualScoresError(f"{path}, row 1: the cells are separated by tabs; save the sheet as CSV (comma- or "
                                f"semicolon-separated)")
    return ","


def read_manual_sheet(path: Path, student_ids=None, questions: dict[str, WrittenQuestion] | None = None
                      ) -> ManualSheet:
    """The scores and comments of a CSV with a ``student_id`` column, any of the written question columns
    (``q1a,q1b,q1c,q2``) and their ``<id>_comment`` columns, separated by commas or semicolons (then a decimal
    comma, ``1,5``, is read as 1.5). An empty cell is "not scored yet" (or no comment) and is left out.

    Raises ManualScoresError, naming the row and column, for: an unknown or repeated column, a row with the wrong
    number of cells, an empty, repeated or (when ``student_ids`` is given) unknown student id, a cell that is not a
    finite number, and a score below 0 or above the rubric's points.
    """
    path = Path(path)
    questions = load_questions() if questions is None else questions
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManualScoresError(f"{path}: cannot be read ({exc})") from None
    delimiter = _delimiter(text, path)
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ManualScoresError(f"{path}: empty; the first row must be the header, e.g. student_id,"
                                f"{','.join(questions)}")
    header = [cell.strip() for cell in rows[0]]
    allowed = ", ".join(questions)
    if "student_id" not in header:
        raise ManualScoresError(f"{path}, row 1: no student_id column (the header is {delimiter.join(header)})")
    for number, name in enumerate(header, 1):
        if name != "student_id" and name not in questions and name.removesuffix(COMMENT_SUFFIX) not in questions:
            raise ManualScoresError(f"{path}, row 1, column {number}: unknown column {name!r}; the columns are "
                                    f"student_id, the written questions {allowed} and their <id>{COMMENT_SUFFIX}")
        if header.count(name) > 1:
            raise ManualScoresError(f"{path}, row 1: the column {name!r} appears {header.count(name)} times")
    known = None if student_ids is None else {csv_key(s) for s in student_ids}
    sheet = ManualSheet()
    first_row: dict[str, int] = {}
    for number, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise ManualScoresError(f"{path}, row {number}: {len(row)} cells, but the header has {len(header)}")
        record = dict(zip(header, row))
        student = csv_key(record["student_id"])
        if not student:
            raise ManualScoresError(f"{path}, row {number}, column student_id: empty")
        if student in first_row:
            raise ManualScoresError(f"{path}, row {number}, column student_id: {student!r} already has row "
                                    f"{first_row[student]}")
        if known is not None and student not in known:
            listed = ", ".join(sorted(known)[:8]) + (", …" if len(known) > 8 else "")
            raise ManualScoresError(f"{path}, row {number}, column student_id: unknown student {student!r}; the "
                                    f"graded submissions are {listed or 'none'}")
        first_row[student] = number
        sheet.scores[student], sheet.comments[student] = {}, {}
        for key in header:
            if key == "student_id" or not record[key].strip():
                continue
            if key.endswith(COMMENT_SUFFIX) and key not in questions:
                comment = csv_key(clean_text(record[key]))  # one line, without the guard write_sheet adds
                sheet.comments[student][key.removesuffix(COMMENT_SUFFIX)] = comment[:COMMENT_CHARS]
                continue
            where = f"{path}, row {number} (student {student!r}), column {key}"
            cell = record[key].strip()
            decimal = cell.replace(",", ".") if delimiter == ";" and re.fullmatch(r"\d+,\d+", cell) else cell
            try:
                value = float(decimal)
            except ValueError:
                hint = " (write decimals with a point, e.g. 1.5)" if re.fullmatch(r"\d+,\d+", cell) else ""
                raise ManualScoresError(f"{where}: {cell!r} is not a number{hint}") from None
            maximum = questions[key].max_points
            if not math.isfinite(value) or value < 0:
                raise ManualScoresError(f"{where}: {cell!r} is not a score between 0 and {fmt_points(maximum)}")
            if value > maximum:
                raise ManualScoresError(f"{where}: {cell} is more than the rubric's {fmt_points(maximum)} points")
            sheet.scores[student][key] = value
    return sheet


def read_manual_scores(path: Path, student_ids=None, questions: dict[str, WrittenQuestion] | None = None
                       ) -> dict[str, dict[str, float]]:
    """``{student_id: {question id: points}}``: the scores of :func:`read_manual_sheet`."""
    return read_manual_sheet(path, student_ids, questions).scores


def stored_sheet(out_dir: Path, questions: dict[str, WrittenQuestion] | None = None) -> ManualSheet:
    """The scores and comments merged into ``out_dir`` so far (empty before the first merge)."""
    path = Path(out_dir) / WRITTEN_DIR / STORE
    return read_manual_sheet(path, None, questions) if path.is_file() else ManualSheet()


def write_sheet(path: Path, sheet: ManualSheet, questions: dict[str, WrittenQuestion]) -> None:
    """``sheet`` as a manual-scores CSV (the format :func:`read_manual_sheet` reads), one row per student."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["student_id", *[c for q in questions for c in (q, q + COMMENT_SUFFIX)]])
    for sid in sorted(set(sheet.scores) | set(sheet.comments)):
        scores, comments = sheet.scores.get(sid, {}), sheet.comments.get(sid, {})
        writer.writerow([csv_safe(sid), *[c for q in questions for c in (
            fmt_points(scores[q]) if q in scores else "", csv_safe(comments.get(q, ""), COMMENT_CHARS))]])
    atomic_write_text(Path(path), buf.getvalue())


def store_manual_scores(out_dir: Path, path: Path, student_ids) -> ManualSheet:
    """Merge the CSV ``path`` into the scores kept in ``out_dir``: each score or comment it gives replaces the kept
    one, every other is kept. ``student_ids`` are the graded submissions; the CSV may name no other. Returns the
    merged sheet."""
    questions = load_questions()
    new = read_manual_sheet(path, student_ids, questions)
    sheet = stored_sheet(out_dir, questions)
    for sid in set(new.scores) | set(new.comments):
        sheet.scores.setdefault(sid, {}).update(new.scores.get(sid, {}))
        sheet.comments.setdefault(sid, {}).update(new.comments.get(sid, {}))
    (Path(out_dir) / WRITTEN_DIR).mkdir(parents=True, exist_ok=True)
    write_sheet(Path(out_dir) / WRITTEN_DIR / STORE, sheet, questions)
    return sheet


@dataclass
class WrittenMark:
    """One written answer as the student's feedback shows it."""
    id: str
    label: str
    score: float | None  # None: not scored yet
    max_points: float
    comment: str
    status: str  # "answered", "empty" or "missing"


def written_marks(out_dir: Path, student_dirs: list[Path]) -> dict[str, list[WrittenMark]]:
    """``{student_id: [WrittenMark per written question]}`` from the scores kept in ``out_dir``; ``{}`` before any
    were merged."""
    questions = load_questions()
    sheet = stored_sheet(out_dir, questions)
    if not any(sheet.scores.values()) and not any(sheet.comments.values()):
        return {}  # nothing merged yet: the feedback shows the autograded points only, as the gradebook does
    marks = {}
    for d in map(Path, student_dirs):
        sid = csv_key(d.name)
        answers = collect_answers(d, questions)
        marks[d.name] = [WrittenMark(q.id, q.label, sheet.scores.get(sid, {}).get(q.id), q.max_points,
                                     sheet.comments.get(sid, {}).get(q.id, ""), answers[q.id].status)
                         for q in questions.values()]
    return marks


def merge_manual_scores(gradebook_csv: Path, manual: dict[str, dict[str, float]],
                        questions: dict[str, WrittenQuestion] | None = None, known_only: bool = False) -> None:
    """Append the written columns to ``gradebook_csv`` (replacing them if a previous merge added them):
    one column per written question, then ``total_with_written`` (``total`` plus the written points scored so far)
    and ``max_with_written``. ``total`` and ``max`` keep the autograded points. Written atomically; an id in
    ``manual`` that has no gradebook row is a ManualScoresError, or left out with ``known_only``."""
    gradebook_csv = Path(gradebook_csv)
    questions = load_questions() if questions is None else questions
    rows = list(csv.reader(io.StringIO(gradebook_csv.read_text(encoding="utf-8"))))
    if not rows or "student_id" not in rows[0]:
        raise ManualScoresError(f"{gradebook_csv}: not a gradebook (no student_id column)")
    added = set(questions) | set(TOTAL_COLUMNS)
    keep = [i for i, name in enumerate(rows[0]) if name not in added]
    header = [rows[0][i] for i in keep]
    col = {name: i for i, name in enumerate(header)}
    ids = [csv_key(row[col["student_id"]]) if len(row) == len(rows[0]) else "" for row in rows[1:]]
    unknown = sorted(set(manual) - set(ids))
    if unknown and not known_only:
        raise ManualScoresError(f"{gradebook_csv}: manual scores for {', '.join(map(repr, unknown))}, who "
                                f"{'has' if len(unknown) == 1 else 'have'} no row in the gradebook")
    max_written = math.fsum(q.max_points for q in questions.values())
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header + list(questions) + list(TOTAL_COLUMNS))
    for student, row in zip(ids, rows[1:]):
        cells = [row[i] if i < len(row) else "" for i in keep]
        scored = manual.get(student, {})
        written = [fmt_points(scored[q]) if q in scored else "" for q in questions]

        def number(name):
            try:
                return float(cells[col[name]]) if name in col and cells[col[name]].strip() else None
            except ValueError:
                return None
        total, maximum = number("total"), number("max")
        total_written = fmt_points(total + math.fsum(scored.values())) if total is not None else ""
        max_with = fmt_points(maximum + max_written) if maximum is not None else ""
        writer.writerow(cells + written + [total_written, max_with])
    atomic_write_text(gradebook_csv, buf.getvalue())


# --- the pages ----------------------------------------------------------------------------------------------------

_STATUS_WORD = {"answered": "answered", "empty": "empty", "missing": "no answer"}


def _md_markup(text: str, attachments: dict | None = None):
    return Markup(render_markdown(text, attachments))


def write_written_reports(out_dir: Path, student_dirs: list[Path], manual_scores: Path | None = None) -> list[Path]:
    """Write ``out_dir/written/<id>.html`` for each written question and ``out_dir/written/index.html``; return
    their paths (index first).

    The pages show the scores and comments kept in ``out_dir/written/manual-scores.csv`` in fields a TA can edit,
    and save them as a CSV (see ``grader/reporting/templates/written_grading.js``). With ``manual_scores`` (a CSV,
    see ``read_manual_sheet``; its ids must be among ``student_dirs``) those are merged into the kept ones first. The
    kept scores are merged into ``out_dir/gradebook.csv`` when that exists (call this after
    ``report.write_gradebook``). A ManualScoresError leaves every file as it was.
    """
    out_dir = Path(out_dir)
    questions = load_questions()
    student_dirs = sorted(map(Path, student_dirs), key=lambda p: p.name)
    if any(p.resolve() == (out_dir / WRITTEN_DIR).resolve() for p in student_dirs):
        raise ValueError(f"a submission is named {WRITTEN_DIR!r}, the folder the written-answer pages go to; "
                         f"rename it")
    if manual_scores is not None:
        sheet = store_manual_scores(out_dir, manual_scores, [p.name for p in student_dirs])
    else:
        sheet = stored_sheet(out_dir, questions)
    has_scores = any(sheet.scores.values())
    gradebook = out_dir / "gradebook.csv"
    if has_scores and gradebook.exists():
        merge_manual_scores(gradebook, sheet.scores, questions, known_only=True)
    per_student = {p.name: collect_answers(p, questions) for p in student_dirs}
    for sid, answers in per_student.items():
        for key, answer in answers.items():
            answer.student_id = clean_text(sid)
            answer.score = sheet.scores.get(csv_key(sid), {}).get(key)
            answer.comment = sheet.comments.get(csv_key(sid), {}).get(key, "")
    target = out_dir / WRITTEN_DIR
    target.mkdir(parents=True, exist_ok=True)
    common = {"pts": fmt_points, "status_word": _STATUS_WORD, "md": _md_markup, "questions": list(questions.values())}
    written = []
    index = target / "index.html"
    rows = [(clean_text(sid), [(q, answers[q.id]) for q in questions.values()]) for sid, answers in per_student.items()]

    def total(cells) -> str:
        scores = [a.score for _, a in cells if a.score is not None]
        missing = len(cells) - len(scores)
        return fmt_points(math.fsum(scores)) + (f" ({missing} not scored)" if missing else "") if scores else ""
    atomic_write_text(index, render("written_index.html", rows=rows, has_scores=has_scores, total=total,
                                    max_total=math.fsum(q.max_points for q in questions.values()), **common))
    written.append(index)
    for q in questions.values():
        answers = [per_student[sid][q.id] for sid in per_student]
        counts = {status: sum(a.status == status for a in answers) for status in _STATUS_WORD}
        scored = sum(a.score is not None for a in answers)
        page = render("written_question.html", q=q, answers=answers, counts=counts, scored=scored, tag=ANSWER_TAG,
                      script=GRADING_SCRIPT, csp=written_csp(), comment_suffix=COMMENT_SUFFIX, **common)
        path = target / f"{q.id}.html"
        atomic_write_text(path, page)
        written.append(path)
    return written


GRADING_SCRIPT = (Path(__file__).with_name("templates") / "written_grading.js").read_text(encoding="utf-8")


def written_csp() -> str:
    """The pages' Content-Security-Policy: the shared one, plus the grading script allowed by its hash."""
    digest = base64.b64encode(hashlib.sha256(GRADING_SCRIPT.encode("utf-8")).digest()).decode("ascii")
    return f"{CSP}; script-src 'sha256-{digest}'"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the written-answer pages (OUT/written/) from a grading "
                                                 "output directory, and merge manual scores into its gradebook.")
    parser.add_argument("out", type=Path, help="the directory `make grade` wrote (default there: grades/)")
    parser.add_argument("--manual-scores", type=Path, metavar="CSV",
                        help="TA scores: student_id plus one column per written question")
    args = parser.parse_args(argv)
    if not args.out.is_dir():
        print(f"error: {args.out} is not a directory", file=sys.stderr)
        return 2
    subs = sorted(p for p in args.out.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and p.name != WRITTEN_DIR
                  and any((p / name).exists() for name in ("results.json", "meta.json", "answers.json")))
    try:
        paths = write_written_reports(args.out, subs, args.manual_scores)
    except (ManualScoresError, RubricError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(paths)} pages in {args.out / WRITTEN_DIR} for {len(subs)} submissions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
