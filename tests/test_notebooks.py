"""The notebooks: student notebooks generated from the reference ones, and both kinds executed top to bottom.

The reference notebooks (``solutions/<stem>.ipynb``) run against the reference modules; the student notebooks
(``assignments/<stem>.ipynb``) run against the stubs, where every cell that reaches student code must stop with
``NotImplementedError`` and nothing else. Each notebook runs in a copy of its directory under ``tmp_path`` (the
notebook and its module), so figures the notebooks save never land in the source tree, and with ``NNKIT_QUICK=1``,
which makes Q3 and Q4 train on small subsets.

The kernel is this interpreter: the ``kernel`` fixture writes a kernelspec whose argv is ``sys.executable`` into a
temporary ``JUPYTER_PATH`` directory, which Jupyter searches before every other place, so no kernel has to be
installed on the machine and another ``python3`` kernel (a user's, a system one) can never be picked up.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from grader import registry
from nnkit.stubgen import (
    ANSWER_TAG,
    PLACEHOLDER,
    RUBRIC_TAG,
    MarkerError,
    generate,
    generate_notebooks,
    notebook_header,
    student_notebook,
    tagged_id,
)

STEMS = registry.stems()

ROOT = Path(__file__).resolve().parents[1]
KERNEL = "nnkit-test-python"
# Q3 and Q4 train (on subsets); they are the slow ones, and with Q1 and Q2 the whole file runs in about a minute.
TRAINING = {"q3_fashion_mnist", "q4_numpy_backprop"}


def _params(stems=STEMS):
    return [pytest.param(stem, marks=pytest.mark.slow) if stem in TRAINING else stem for stem in stems]


def reference(stem: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "solutions" / f"{stem}.ipynb", as_version=4)


def student(stem: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "assignments" / f"{stem}.ipynb", as_version=4)


# --- generation --------------------------------------------------------------------------------------------------

def test_committed_notebooks_are_up_to_date():
    notebooks = generate_notebooks(ROOT / "solutions", ROOT / "assignments")
    assert {p.name for p in notebooks} == {f"{stem}.ipynb" for stem in STEMS}
    for path, text in notebooks.items():
        assert path.exists(), f"{path} is missing: run `make assignments`"
        assert path.read_text(encoding="utf-8") == text, f"{path} differs from its solution: run `make assignments`"


@pytest.mark.parametrize("stem", STEMS)
def test_reference_notebook_is_committed_without_outputs(stem):
    nb = reference(stem)
    nbformat.validate(nb)
    for number, cell in enumerate(nb.cells, 1):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"solutions/{stem}.ipynb cell {number} has outputs: clear them before committing "
                f"(Jupyter: Edit > Clear Outputs of All Cells)")


@pytest.mark.parametrize("stem", STEMS)
def test_student_notebook_is_clean_nbformat_4(stem):
    path = ROOT / "assignments" / f"{stem}.ipynb"
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert raw["nbformat"] == 4
    nb = student(stem)
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "markdown"
    assert nb.cells[0].source.startswith(notebook_header(f"solutions/{stem}.ipynb"))
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        assert set(cell.metadata) <= {"tags", "deletable"}


@pytest.mark.parametrize("stem", STEMS)
def test_student_notebook_has_no_solution_text(stem):
    ref, stu = reference(stem), student(stem)
    text = "\n".join(cell.source for cell in stu.cells)
    assert "SOLUTION" not in text
    assert not any(tagged_id(cell, RUBRIC_TAG) for cell in stu.cells), "a rubric cell survived"
    # every substantial line inside a solution region (code or Markdown) and every line of a rubric is gone
    stu_lines = {line.strip() for line in text.splitlines()}
    leaked = []
    for cell in ref.cells:
        inside = bool(tagged_id(cell, RUBRIC_TAG))
        for line in cell.source.splitlines():
            if "BEGIN SOLUTION" in line:
                inside = True
            elif "END SOLUTION" in line:
                inside = bool(tagged_id(cell, RUBRIC_TAG))
            elif inside and len(line.strip()) > 12 and line.strip() in stu_lines:
                leaked.append(line.strip())
    assert not leaked, f"solution text survives in assignments/{stem}.ipynb: {leaked[:3]}"


@pytest.mark.parametrize("stem", STEMS)
def test_answer_cells_are_tagged_placeholders(stem):
    ref_ids = [tagged_id(c, ANSWER_TAG) for c in reference(stem).cells if tagged_id(c, ANSWER_TAG)]
    answers = {tagged_id(c, ANSWER_TAG): c for c in student(stem).cells if tagged_id(c, ANSWER_TAG)}
    assert list(answers) == ref_ids
    for key, cell in answers.items():
        assert cell.cell_type == "markdown" and cell.source.strip() == PLACEHOLDER, key
        assert cell.metadata.get("deletable") is False, key


def test_written_answers_are_where_the_questions_are():
    ids = {stem: [tagged_id(c, ANSWER_TAG) for c in reference(stem).cells if tagged_id(c, ANSWER_TAG)]
           for stem in STEMS}
    assert ids == {"q1_expressivity": ["q1a", "q1b", "q1c"], "q2_softmax_jacobian": ["q2"],
                   "q3_fashion_mnist": [], "q4_numpy_backprop": []}


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title", id="title"), *cells]
    return nb


def _md(source, tags=(), id=None):
    cell = nbformat.v4.new_markdown_cell(source, id=id or f"c{abs(hash(source)) % 10**8}")
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def _code(source, id="code"):
    return nbformat.v4.new_code_cell(source, id=id)


def test_markdown_region_becomes_placeholder_and_rubric_is_dropped():
    nb = _nb(_md("Intro kept.\n<!-- BEGIN SOLUTION -->\nThe secret $x$.\n<!-- END SOLUTION -->", ["answer:a1"]),
             _md("- **1 pt**: rubric text", ["rubric:a1"]))
    out = student_notebook(nb, "s.ipynb")
    assert [c.source for c in out.cells[1:]] == [f"Intro kept.\n{PLACEHOLDER}"]
    assert out.cells[0].source == notebook_header("s.ipynb") + "# Title"


def test_code_region_at_top_level_of_a_cell_raises_and_magics_are_allowed():
    nb = _nb(_code("%matplotlib inline\nx = 1\n# BEGIN SOLUTION\ny = secret(x)\n# END SOLUTION\nprint(y)\n"))
    out = student_notebook(nb, "s.ipynb")
    cell = out.cells[1]
    assert cell.source == "%matplotlib inline\nx = 1\nraise NotImplementedError\nprint(y)\n"
    assert cell.outputs == [] and cell.execution_count is None


def test_outputs_and_metadata_are_dropped():
    cell = _code("print(1)")
    cell.outputs = [nbformat.v4.new_output("stream", text="1\n")]
    cell.execution_count = 3
    cell.metadata.update({"tags": ["keep"], "collapsed": True, "execution": {"x": 1}})
    out = student_notebook(_nb(cell), "s.ipynb")
    assert out.cells[1].outputs == [] and out.cells[1].execution_count is None
    assert out.cells[1].metadata == {"tags": ["keep"]}


def test_attachments_of_the_reference_answer_are_dropped():
    cell = _md("<!-- BEGIN SOLUTION -->\n![net](attachment:net.png)\n<!-- END SOLUTION -->", ["answer:a1"])
    cell.attachments = {"net.png": {"image/png": "iVBORw0KGgo="}}
    out = student_notebook(_nb(cell, _md("- **1 pt**: r", ["rubric:a1"])), "s.ipynb")
    assert "attachments" not in out.cells[1]


@pytest.mark.parametrize("cells, message", [
    ([_md("<!-- BEGIN SOLUTION -->\nx\n<!-- END SOLUTION -->")], "needs an answer:<id> tag"),
    ([_md("no region", ["answer:a1"]), _md("- **1 pt**: r", ["rubric:a1"])], "exactly one solution region"),
    ([_md("<!-- BEGIN SOLUTION -->\nx\n<!-- END SOLUTION -->", ["answer:a1"])], "has no rubric:a1"),
    ([_md("- **1 pt**: r", ["rubric:a1"])], "has no answer:a1"),
    ([_md("<!-- BEGIN SOLUTION -->\n<!-- BEGIN SOLUTION -->\nx\n<!-- END SOLUTION -->", ["answer:a1"])], "nested"),
    ([_md("<!-- BEGIN SOLUTION -->\nx", ["answer:a1"])], "never closed"),
    ([_md("x\n<!-- END SOLUTION -->", ["answer:a1"])], "without a BEGIN"),
    ([_md("x <!-- BEGIN SOLUTION --> y", ["answer:a1"])], "malformed"),
    ([_md("<!-- BEGIN SOLUTION -->\nx\n<!-- END SOLUTION -->", ["answer:a1"], id="one"),
      _md("<!-- BEGIN SOLUTION -->\ny\n<!-- END SOLUTION -->", ["answer:a1"], id="two")], "tagged again"),
    ([_md("x", ["answer:A-1"])], "an id is lower-case"),
    ([_code("# BEGIN SOLUTION\nx = 1\n")], "never closed"),
    ([_code("def f(:\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION\n")], "not valid Python"),
])
def test_malformed_notebooks_are_errors(cells, message):
    with pytest.raises(MarkerError, match=re.escape(message)):
        student_notebook(_nb(*cells), "s.ipynb")


def test_check_mode_reports_a_stale_notebook(tmp_path):
    for path, text in {**generate(ROOT / "solutions", tmp_path),
                       **generate_notebooks(ROOT / "solutions", tmp_path)}.items():
        path.write_text(text, encoding="utf-8")
    cmd = [sys.executable, "-m", "nnkit.stubgen", str(ROOT / "solutions"), str(tmp_path), "--check"]
    assert subprocess.run(cmd, capture_output=True, text=True).returncode == 0
    stale = tmp_path / "q2_softmax_jacobian.ipynb"
    stale.write_text(stale.read_text().replace(PLACEHOLDER, "my answer"), encoding="utf-8")
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 1 and f"out of date: {stale}" in out.stderr


# --- execution ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def kernel(tmp_path_factory):
    """The name of a kernelspec that runs this interpreter (the venv's python), found before any other."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "nn-autograder-kit tests", "language": "python"}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(root))
        yield KERNEL


@pytest.fixture
def run_notebook(kernel, tmp_path, monkeypatch):
    """run_notebook(folder, stem) executes folder/<stem>.ipynb beside a copy of folder/<stem>.py; returns the
    executed notebook (errors recorded in the outputs, not raised)."""
    monkeypatch.setenv("NNKIT_QUICK", "1")
    monkeypatch.setenv("NNKIT_OFFLINE", "1")
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")

    def run(folder: str, stem: str) -> nbformat.NotebookNode:
        work = tmp_path / folder
        work.mkdir()
        for suffix in (".ipynb", ".py"):
            shutil.copy(ROOT / folder / f"{stem}{suffix}", work)
        nb = nbformat.read(work / f"{stem}.ipynb", as_version=4)
        NotebookClient(nb, kernel_name=kernel, timeout=600, allow_errors=True,
                       resources={"metadata": {"path": str(work)}}).execute()
        return nb
    return run


def _errors(nb) -> list[tuple[int, dict]]:
    return [(number, out) for number, cell in enumerate(nb.cells, 1) if cell.cell_type == "code"
            for out in cell.outputs if out.output_type == "error"]


def _text(cell) -> str:
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")


def _images(nb) -> int:
    return sum("image/png" in out.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
               for out in cell.outputs)


EXPECTED = {  # stem: (pictures at least, text the run must print)
    "q1_expressivity": (3, ["largest |network - box| away from x = 0 and x = delta: 0", "N = 512: max error"]),
    "q2_softmax_jacobian": (0, ["softmax_jacobian against central differences: max relative error",
                                "n = 4: symbolic_jacobian equals SymPy's Jacobian of the softmax: True"]),
    "q3_fashion_mnist": (2, ["(NNKIT_QUICK subset)", "test accuracy", "trained for"]),
    "q4_numpy_backprop": (1, ["(NNKIT_QUICK subset)", "W1[400:410]: max relative error", "after epoch 2:"]),
}


@pytest.mark.parametrize("stem", _params())
def test_reference_notebook_runs_top_to_bottom(stem, run_notebook):
    nb = run_notebook("solutions", stem)
    errors = _errors(nb)
    assert not errors, "\n".join(f"cell {n}: {o.ename}: {o.evalue}" for n, o in errors)
    printed = "\n".join(_text(cell) for cell in nb.cells if cell.cell_type == "code")
    images, expected = EXPECTED[stem]
    for snippet in expected:
        assert snippet in printed, f"{snippet!r} not printed; the run printed:\n{printed[-3000:]}"
    assert _images(nb) >= images


def _stub_functions(stem: str) -> set[str]:
    """Names of the stub's functions whose body is only ``raise NotImplementedError`` (after the docstring)."""
    tree = ast.parse((ROOT / "assignments" / f"{stem}.py").read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
            body = [s for s in body if not isinstance(s, (ast.Import, ast.ImportFrom))]
            if len(body) == 1 and isinstance(body[0], ast.Raise):
                names.add(node.name)
    return names


def _assigned(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def _calls(source: str, functions: set[str]) -> bool:
    return any(isinstance(node, ast.Name) and node.id in functions for node in ast.walk(ast.parse(source)))


@pytest.mark.parametrize("stem", STEMS)
def test_student_notebook_stops_only_at_student_code(stem, run_notebook):
    """Against the stubs, each cell that calls a student function stops with NotImplementedError, and every other
    cell runs, except one that only lacks a name an earlier stopped cell would have defined (a NameError that
    follows from the NotImplementedError, e.g. the Q3 test cell needs the model the training cell builds)."""
    nb = run_notebook("assignments", stem)
    stubs = _stub_functions(stem)
    assert stubs, f"no stubbed functions found in assignments/{stem}.py"
    undefined: set[str] = set()
    stopped = 0
    for number, cell in enumerate(nb.cells, 1):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        where = f"assignments/{stem}.ipynb cell {number} ({cell.id})"
        if _calls(cell.source, stubs):
            if errors and errors[0].ename == "NameError":
                missing = re.search(r"name '(\w+)' is not defined", errors[0].evalue)
                assert missing and missing[1] in undefined, f"{where}: {errors[0].ename}: {errors[0].evalue}"
            else:
                assert errors and errors[0].ename == "NotImplementedError", (
                    f"{where} calls student code but did not stop with NotImplementedError: "
                    f"{[(o.ename, o.evalue) for o in errors]}")
                stopped += 1
            undefined |= _assigned(cell.source)
        elif errors:
            missing = re.search(r"name '(\w+)' is not defined", errors[0].evalue)
            assert errors[0].ename == "NameError" and missing and missing[1] in undefined, (
                f"{where} is broken: {errors[0].ename}: {errors[0].evalue}")
            undefined |= _assigned(cell.source)
    assert stopped >= 1
