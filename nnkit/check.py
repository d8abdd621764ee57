"""Check your work from a notebook, the way ``make check`` does::

    from nnkit.check import check

    check("q2")              # the visible checks of Q2 on the files next to this notebook
    check("q1a")             # only the checks of part (a) of Q1
    check("q3", full=True)   # with the training checks; their progress shows as they run

The checks run on the saved ``.py`` files (and the notebooks, for a question without one) in the notebook's folder,
read as the grader reads a submission, in fresh processes: an edit counts as soon as it is saved, with no kernel
restart. The report is the one ``make check`` prints, shown as HTML in Jupyter and as text elsewhere, with the
number of hidden checks, which run only after you submit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from grader import registry
from grader.shipping import local

TEMPLATES = Path(__file__).resolve().parent / "templates"


def target(label: str) -> tuple[registry.Question, set[str] | None]:
    """The question named by ``label`` (``q2``, ``2``, a stem) and the parts to report (``{"q1a"}``, or None for
    all); ValueError naming the known labels otherwise."""
    text = label.strip().lower()
    for q in registry.questions():
        if text in q.parts and text != q.label:
            return q, {text}
    try:
        return registry.lookup(text), None
    except KeyError:
        known = ", ".join(p for q in registry.questions() for p in [q.label, *sorted(set(q.parts) - {q.label})])
        raise ValueError(f"unknown question {label!r}: use one of {known}") from None


def _kind(line: str) -> str:
    body = line.strip()
    if body.startswith("FAILED"):
        return "failed"
    if body.startswith("ok "):
        return "ok"
    if body.startswith(("note:", "not run:", "hidden checks:")):
        return "hidden" if body.startswith("hidden") else "note"
    if line.startswith("Visible checks:"):
        return "total"
    if line[:1] == "Q" and not line.startswith(" "):
        return "question"
    return ""


@dataclass
class Report:
    """One check's report: shown as HTML by Jupyter, as text by a terminal."""
    title: str
    lines: list[str]
    failed: bool

    def __str__(self) -> str:
        return "\n".join(self.lines)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        import jinja2

        env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
        verdict = "a visible check failed" if self.failed else "every visible check that ran passed"
        return env.get_template("check.html").render(
            title=self.title, verdict=verdict, failed=self.failed, lines=[(_kind(line), line) for line in self.lines])


def run(label: str, *, full: bool = False, folder: str | os.PathLike | None = None) -> Report:
    """The visible checks of ``label`` on ``folder`` (default: the current folder, a notebook's own), as a Report;
    per-epoch training output is printed as it comes."""
    question, parts = target(label)
    folder = Path(folder) if folder is not None else Path.cwd()
    lines = [note] if (note := local.sandbox_note()) else []
    outcome = local.check(folder, [question.stem], full, parts, echo=lambda line: print(line, flush=True))
    title = registry.heading(next(iter(parts))) if parts else question.heading
    lines += outcome.lines
    while lines and not lines[0]:
        lines.pop(0)
    return Report(f"{title} in {folder.name or folder}", lines, outcome.status != 0)


def show(report: Report) -> None:
    """Display ``report``: rich output under IPython (HTML in Jupyter), printed text elsewhere."""
    try:
        from IPython import get_ipython
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        from IPython.display import display

        display(report)
    else:
        print(report)


def check(label: str, *, full: bool = False, folder: str | os.PathLike | None = None) -> None:
    """Run the visible checks of ``label`` (``"q2"``, or a part such as ``"q1a"``) and show the report below."""
    show(run(label, full=full, folder=folder))
