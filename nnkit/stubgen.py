"""Generate student stubs and notebooks from reference solutions.

Modules. A solution region is the lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION``. Inside a function the
region becomes ``raise NotImplementedError`` at the marker's indentation; at module level (a helper only the solution
uses) it is removed. Nested, unclosed or stray markers are hard errors, as in nbgrader.

Notebooks. ``solutions/<stem>.ipynb`` becomes ``assignments/<stem>.ipynb``:

- code cells go through the same marker rules, except that a region at the top level of a cell becomes
  ``raise NotImplementedError`` (it is the student's work there, not a helper);
- a Markdown cell tagged ``answer:<id>`` (e.g. ``answer:q1a``) is a written answer: the lines between
  ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` become ``_Write your answer here._``, the rest of the
  cell is kept, and the cell is marked undeletable. Every answer cell has exactly one region and every answer id
  one ``rubric:<id>`` cell;
- a Markdown cell tagged ``rubric:<id>`` (the graders' rubric for that answer) is dropped;
- outputs, execution counts and all cell metadata but the tags are dropped, and the first cell (Markdown) gets the
  header line ``<!-- generated from solutions/<stem>.ipynb by `make assignments`; do not edit -->``.

The result is validated with nbformat and written as nbformat 4 JSON.

    python -m nnkit.stubgen solutions assignments        # write the stubs and notebooks
    python -m nnkit.stubgen solutions assignments --check  # exit 1 if a committed one is out of date
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
from pathlib import Path

import nbformat

from grader import registry
from nnkit.cells import ANSWER_TAG, PLACEHOLDER, RUBRIC_TAG, cell_tags, tagged_id

BEGIN = re.compile(r"^(?P<indent>[ \t]*)#\s*BEGIN SOLUTION\s*$")
END = re.compile(r"^(?P<indent>[ \t]*)#\s*END SOLUTION\s*$")
ANY_MARKER = re.compile(r"(BEGIN|END) SOLUTION")
MD_BEGIN = re.compile(r"^\s*<!--\s*BEGIN SOLUTION\s*-->\s*$")
MD_END = re.compile(r"^\s*<!--\s*END SOLUTION\s*-->\s*$")
ANSWER_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class MarkerError(ValueError):
    """A solution region is malformed."""


def header(source_name: str) -> str:
    """The stub's first line: the student's file, theirs to edit (the generator is named for the instructor)."""
    return (f"# {Path(source_name).name}: your file to edit; replace each `raise NotImplementedError` "
            f"(made by `make assignments`)\n")


def notebook_header(source_name: str) -> str:
    return (f"<!-- {Path(source_name).name}: your notebook to edit, written answers included "
            f"(made by `make assignments`) -->\n")


def for_students(text: str, src_dir: str, where: str) -> str:
    """``text`` with ``python -m <src_dir>.<stem>`` turned into ``python <stem>.py`` (what runs beside the stub);
    MarkerError if ``src_dir`` is still named after that, since students have no such folder."""
    text = re.sub(rf"python -m {re.escape(src_dir)}\.(\w+)", r"python \1.py", text)
    if m := re.search(rf"\b{re.escape(src_dir)}\b[./]", text):
        line = text.count("\n", 0, m.start()) + 1
        raise MarkerError(f"{where}: line {line} names {src_dir}/, which students do not have: "
                          f"{text.splitlines()[line - 1].strip()[:80]!r}")
    return text


SETUP_CELL = """\
# Setup. On Google Colab this installs the homework first (upload student-bundle.zip to the Files panel before
# running it); anywhere else it does nothing but make edits to your .py files take effect without a kernel restart.
import sys

if "google.colab" in sys.modules:
    import os
    import site
    import subprocess
    import sysconfig
    import zipfile

    if not os.path.isdir("/content/homework"):
        zipfile.ZipFile("/content/student-bundle.zip").extractall("/content/homework")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-e", "/content/homework"], check=True)
    site.addsitedir(sysconfig.get_paths()["purelib"])  # the install above, in this kernel
    os.chdir("/content/homework/assignments")

get_ipython().run_line_magic("load_ext", "autoreload")  # %load_ext autoreload
get_ipython().run_line_magic("autoreload", "2")  # %autoreload 2: edits to your modules count at once"""
SETUP_TAG = "nnkit:setup"
CHECK_TAG = "nnkit:check"


def checked_parts(question: registry.Question) -> set[str]:
    """The parts (``q1a``) that the question's visible checks name in their markers."""
    tree = ast.parse(question.visible_checks.read_text(encoding="utf-8"))
    return {node.value.value for node in ast.walk(tree) if isinstance(node, ast.keyword) and node.arg == "part"
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}


def _check_cells(label: str, title: str) -> list:
    heading = f"### Check {registry.heading(label)}: {title}"
    text = (f"{heading}\n\nThe visible checks of {registry.heading(label)}, the same as `make check` runs on your "
            f"saved `.py` file. The hidden checks run only after you submit.")
    code = f'from nnkit.check import check\n\ncheck("{label}")'
    return [nbformat.v4.new_markdown_cell(text, id=f"nnkit-check-{label}-about"),
            nbformat.v4.new_code_cell(code, id=f"nnkit-check-{label}", metadata={"tags": [CHECK_TAG]})]


SUBMIT_CELL = """\
## Submit

When every question is done, run `submit()` in a new cell (after `from nnkit.submit import submit`), or `make
submit` in a terminal: it checks that nothing that would cost points is missing and writes `submission.zip` beside
this folder. README.md says where to hand it in."""


def with_kit_cells(cells: list, question: registry.Question) -> list:
    """``cells`` (the student notebook's) with the setup cell after the first, a check cell at the end of each
    section (a ``## `` heading) whose written answer is a part with visible checks, and a check of the whole question
    and the submit instructions at the end."""
    parts = checked_parts(question) - {question.label} if len(question.parts) > 1 else set()
    out = [cells[0], nbformat.v4.new_code_cell(SETUP_CELL, id="nnkit-setup", metadata={"tags": [SETUP_TAG]})]
    section_part = None
    for cell in cells[1:]:
        if cell.cell_type == "markdown" and cell.source.startswith("## ") and section_part:
            out += _check_cells(section_part, question.parts[section_part])
            section_part = None
        out.append(cell)
        answer = tagged_id(cell, ANSWER_TAG)
        if answer in parts:
            section_part = answer
    if section_part:
        out += _check_cells(section_part, question.parts[section_part])
    out += _check_cells(question.label, question.title)
    out.append(nbformat.v4.new_markdown_cell(SUBMIT_CELL, id="nnkit-submit"))
    return out


def _check_python(stub: str, source_name: str, ipython: bool) -> None:
    if ipython:  # a notebook cell may hold magics (%timeit) and shell escapes (!ls)
        from IPython.core.inputtransformer2 import TransformerManager

        stub = TransformerManager().transform_cell(stub)
    try:
        ast.parse(stub)
    except SyntaxError as exc:
        raise MarkerError(f"{source_name}: the stub is not valid Python after stripping (line {exc.lineno}): "
                          f"{exc.msg}") from exc


def strip_solutions(text: str, source_name: str = "<source>", *, top_level: str = "remove",
                    ipython: bool = False) -> str:
    """Return ``text`` with every solution region replaced; raise MarkerError on malformed markers.

    ``top_level``: what a region at column 0 becomes, ``"remove"`` (modules) or ``"raise"`` (notebook cells).
    ``ipython``: accept IPython syntax when checking that the stub still parses.
    """
    if top_level not in ("remove", "raise"):
        raise ValueError(f"top_level must be 'remove' or 'raise', not {top_level!r}")
    out: list[str] = []
    open_at: int | None = None
    indent = ""
    for lineno, line in enumerate(text.splitlines(keepends=True), start=1):
        if m := BEGIN.match(line):
            if open_at is not None:
                raise MarkerError(f"{source_name}:{lineno}: nested BEGIN SOLUTION (region opened at line {open_at})")
            open_at, indent = lineno, m["indent"]
            if indent or top_level == "raise":
                out.append(f"{indent}raise NotImplementedError\n")
            continue
        if m := END.match(line):
            if open_at is None:
                raise MarkerError(f"{source_name}:{lineno}: END SOLUTION without a BEGIN SOLUTION")
            if m["indent"] != indent:
                raise MarkerError(f"{source_name}:{lineno}: END SOLUTION indented differently from its BEGIN "
                                  f"(line {open_at})")
            open_at = None
            continue
        if ANY_MARKER.search(line) and line.lstrip().startswith("#"):
            raise MarkerError(f"{source_name}:{lineno}: malformed solution marker: {line.strip()!r}")
        if open_at is None:
            out.append(line)
    if open_at is not None:
        raise MarkerError(f"{source_name}:{open_at}: BEGIN SOLUTION is never closed")
    stub = "".join(out)
    _check_python(stub, source_name, ipython)
    return stub


def strip_markdown_solutions(text: str, source_name: str = "<source>") -> tuple[str, int]:
    """``(text, n)``: ``text`` with each ``<!-- BEGIN/END SOLUTION -->`` region replaced by ``PLACEHOLDER``, and the
    number of regions; MarkerError on malformed markers."""
    out: list[str] = []
    open_at: int | None = None
    regions = 0
    for lineno, line in enumerate(text.splitlines(keepends=True), start=1):
        if MD_BEGIN.match(line):
            if open_at is not None:
                raise MarkerError(f"{source_name}:{lineno}: nested BEGIN SOLUTION (region opened at line {open_at})")
            open_at = lineno
            regions += 1
            out.append(PLACEHOLDER + "\n")
            continue
        if MD_END.match(line):
            if open_at is None:
                raise MarkerError(f"{source_name}:{lineno}: END SOLUTION without a BEGIN SOLUTION")
            open_at = None
            continue
        if ANY_MARKER.search(line):
            raise MarkerError(f"{source_name}:{lineno}: malformed solution marker: {line.strip()!r} (a Markdown "
                              f"marker is a line of its own: <!-- BEGIN SOLUTION -->)")
        if open_at is None:
            out.append(line)
    if open_at is not None:
        raise MarkerError(f"{source_name}:{open_at}: BEGIN SOLUTION is never closed")
    return "".join(out).rstrip("\n"), regions


def student_notebook(nb: nbformat.NotebookNode, source_name: str,
                     question: registry.Question | None = None) -> nbformat.NotebookNode:
    """The student version of the reference notebook ``nb`` (see the module docstring); ``nb`` is not modified.
    With ``question``, the kit's cells are added (:func:`with_kit_cells`)."""
    answers: dict[str, int] = {}
    rubrics: dict[str, int] = {}
    cells = []
    for number, cell in enumerate(nb.cells, start=1):
        where = f"{source_name} cell {number}"
        tags = cell_tags(cell)
        for prefix in (ANSWER_TAG, RUBRIC_TAG):
            ids = [t[len(prefix):] for t in tags if t.startswith(prefix)]
            if len(ids) > 1:
                raise MarkerError(f"{where}: more than one {prefix} tag: {', '.join(ids)}")
            if ids and not ANSWER_ID.match(ids[0]):
                raise MarkerError(f"{where}: tag {prefix}{ids[0]}: an id is lower-case letters, digits and _")
        answer, rubric = tagged_id(cell, ANSWER_TAG), tagged_id(cell, RUBRIC_TAG)
        if (answer or rubric) and cell.cell_type != "markdown":
            raise MarkerError(f"{where}: answer: and rubric: tags belong on Markdown cells, not {cell.cell_type}")
        if answer and rubric:
            raise MarkerError(f"{where}: a cell is either an answer or a rubric, not both")
        for seen, key in ((answers, answer), (rubrics, rubric)):
            if key in seen:
                raise MarkerError(f"{where}: {key!r} is tagged again (first in cell {seen[key]})")
            if key:
                seen[key] = number
        if rubric:
            continue
        new = copy.deepcopy(cell)
        new.metadata = nbformat.NotebookNode({"tags": tags} if tags else {})
        if cell.cell_type == "code":
            new.source = strip_solutions(cell.source, where, top_level="raise", ipython=True)
            new.outputs = []
            new.execution_count = None
        elif cell.cell_type == "markdown":
            new.source, regions = strip_markdown_solutions(cell.source, where)
            if regions and not answer:
                raise MarkerError(f"{where}: a Markdown solution region needs an answer:<id> tag on its cell, so "
                                  f"the grader knows which answer it is")
            if answer and regions != 1:
                raise MarkerError(f"{where}: answer cell {answer!r} needs exactly one solution region "
                                  f"(<!-- BEGIN SOLUTION --> ... <!-- END SOLUTION -->), found {regions}")
            if answer:
                new.metadata["deletable"] = False
            # attachments only the reference answer showed go with it
            if "attachments" in new:
                kept = {k: v for k, v in new.attachments.items() if f"attachment:{k}" in new.source}
                if kept:
                    new.attachments = kept
                else:
                    del new["attachments"]
        elif ANY_MARKER.search(cell.source):
            raise MarkerError(f"{where}: solution markers in a {cell.cell_type} cell")
        cells.append(new)
    for key in answers.keys() - rubrics.keys():
        raise MarkerError(f"{source_name}: answer {key!r} (cell {answers[key]}) has no rubric:{key} cell")
    for key in rubrics.keys() - answers.keys():
        raise MarkerError(f"{source_name}: rubric {key!r} (cell {rubrics[key]}) has no answer:{key} cell")
    if not cells or cells[0].cell_type != "markdown":
        raise MarkerError(f"{source_name}: the first cell must be Markdown (it carries the generated-file header)")
    cells[0].source = notebook_header(source_name) + cells[0].source
    if question is not None:
        cells = with_kit_cells(cells, question)
    for number, cell in enumerate(cells, start=1):
        cell.source = for_students(cell.source, Path(source_name).parent.name or "solutions",
                                   f"{source_name} cell {number}")
    out = nbformat.v4.new_notebook()
    out.nbformat_minor = max(nb.get("nbformat_minor", 5), 5)
    out.metadata = {k: copy.deepcopy(nb.metadata[k]) for k in ("kernelspec", "language_info") if k in nb.metadata}
    out.cells = cells
    nbformat.validate(out)
    return out


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """A reference notebook as nbformat 4, validated."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    return nb


def generate_notebooks(src_dir: Path, dst_dir: Path) -> dict[Path, str]:
    """Map each student notebook path to its generated JSON text (nothing is written)."""
    notebooks = {}
    owner: dict[str, str] = {}
    for stem in registry.stems():
        src = src_dir / f"{stem}.ipynb"
        name = f"{src_dir.name}/{src.name}"
        if not src.exists():
            raise MarkerError(f"{name} is missing: every question has a reference notebook")
        nb = read_notebook(src)
        for cell in nb.cells:
            key = tagged_id(cell, ANSWER_TAG)
            if key in owner:
                raise MarkerError(f"{name}: answer id {key!r} is also used in {owner[key]}")
            if key:
                owner[key] = name
        student = student_notebook(nb, name, registry.by_stem(stem))
        notebooks[dst_dir / src.name] = nbformat.writes(student, version=4) + "\n"
    return notebooks


def generate(src_dir: Path, dst_dir: Path) -> dict[Path, str]:
    """Map each stub path to its generated text (nothing is written)."""
    stubs = {}
    for stem in registry.stems():
        src = src_dir / f"{stem}.py"
        name = f"{src_dir.name}/{src.name}"
        stub = strip_solutions(src.read_text(encoding="utf-8"), name)
        stubs[dst_dir / src.name] = header(name) + for_students(stub, src_dir.name, name)
    return stubs


def generate_all(src_dir: Path, dst_dir: Path) -> dict[Path, str]:
    """The stub modules and the student notebooks: path -> text."""
    return {**generate(src_dir, dst_dir), **generate_notebooks(src_dir, dst_dir)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("solutions", type=Path, nargs="?", default=registry.SOLUTIONS_DIR)
    parser.add_argument("assignments", type=Path, nargs="?", default=registry.REPO / "assignments")
    parser.add_argument("--check", action="store_true", help="only report files that differ; write nothing")
    args = parser.parse_args(argv)
    try:
        stubs = generate_all(args.solutions, args.assignments)
    except (MarkerError, nbformat.ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stale = [p for p, text in stubs.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    if args.check:
        for p in stale:
            print(f"out of date: {p} (run `make assignments`)", file=sys.stderr)
        return 1 if stale else 0
    args.assignments.mkdir(parents=True, exist_ok=True)
    for path, text in stubs.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
