"""The check inside the notebook (``nnkit.check``) and the student's progress: a notebook's check cell shows the same
report as ``make check`` inline, names a failing check, counts the hidden checks; training output streams as it
comes."""

from __future__ import annotations

import shutil
import time

import nbformat
import pytest
from conftest import ROOT, mutate, solution_source
from nbclient import NotebookClient
from test_notebooks import kernel  # noqa: F401 (the fixture)

from grader.shipping import local
from nnkit import check as notebook_check
from nnkit.stubgen import CHECK_TAG

STEM = "q2_softmax_jacobian"
REF = solution_source(STEM)
JAC = "    return np.diag(y) - np.outer(y, y)\n"
BUGGY = mutate(REF, JAC, "    return np.exp(np.eye(len(y)) - y[None, :])\n")  # exp of the log-softmax derivative


def run_student_notebook(folder, kernel_name, module: str):
    """Execute the student notebook of Q2 beside ``module`` (its source) in ``folder``; the executed notebook."""
    folder.mkdir()
    shutil.copy(ROOT / "assignments" / f"{STEM}.ipynb", folder)
    (folder / f"{STEM}.py").write_text(module)
    nb = nbformat.read(folder / f"{STEM}.ipynb", as_version=4)
    NotebookClient(nb, kernel_name=kernel_name, timeout=600, allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def check_cell_html(nb) -> str:
    cells = [c for c in nb.cells if CHECK_TAG in c.metadata.get("tags", [])]
    assert cells, "the student notebook has no check cell"
    html = [out["data"]["text/html"] for out in cells[-1].outputs if "text/html" in out.get("data", {})]
    assert html, f"the check cell showed no HTML report: {cells[-1].outputs}"
    return html[0]


def test_check_cell_names_the_failing_check(kernel, tmp_path):  # noqa: F811
    """On a buggy Jacobian the notebook's check cell shows an inline report naming the failing check and its hint."""
    html = check_cell_html(run_student_notebook(tmp_path / "buggy", kernel, BUGGY))
    assert "FAILED  Q2: softmax_jacobian agrees with central differences for several sizes" in html
    assert "exp of the log-softmax derivative" in html
    assert "a visible check failed" in html and "hidden checks: 4 not run" in html


def test_check_cell_passes_the_reference(kernel, tmp_path):  # noqa: F811
    """On the reference the same cell reports every visible check passed, and still counts the hidden ones."""
    html = check_cell_html(run_student_notebook(tmp_path / "reference", kernel, REF))
    assert "FAILED" not in html and "every visible check that ran passed" in html
    assert "checks passed: 6 of 6" in html and "hidden checks: 4 not run" in html


def test_check_reports_one_part_and_refuses_unknown_names(tmp_path, capsys):
    """check("q1a") reports only part (a)'s checks; an unknown name is refused with the known ones."""
    shutil.copy(ROOT / "solutions" / "q1_expressivity.py", tmp_path)
    report = notebook_check.run("q1a", folder=tmp_path)
    assert "checks passed: 4 of 4    points: 4 of 4" in str(report) and not report.failed  # Q1 has 5 checks, 6 points
    assert report.title.startswith("Q1a")
    with pytest.raises(ValueError, match="unknown question 'q9'.*q1a"):
        notebook_check.target("q9")
    notebook_check.show(report)  # no IPython here: printed as text
    assert "checks passed: 4 of 4" in capsys.readouterr().out


def test_student_output_streams_while_the_checks_run(tmp_path):
    """What the student's code prints reaches the terminal as it is printed, with the seconds since the start (how
    Keras's per-epoch log and the numpy training's epochs show during make check FULL=1)."""
    slow = REF + "\nimport time\nprint('Epoch 1/3 - loss: 0.52 - accuracy: 0.81', flush=True)\ntime.sleep(4)\n"
    (tmp_path / f"{STEM}.py").write_text(slow)
    seen = []
    start = time.monotonic()
    outcome = local.check(tmp_path, [STEM], full=False, echo=lambda line: seen.append((time.monotonic(), line)))
    end = time.monotonic()
    assert outcome.status == 0, outcome.lines
    epoch = [(t, line) for t, line in seen if "Epoch 1/3 - loss: 0.52" in line]
    assert epoch, seen
    assert epoch[0][0] < end - 2, "the line arrived only at the end, not as it was printed"
    assert epoch[0][1].lstrip().startswith("[") and " s] " in epoch[0][1]
    assert start < epoch[0][0]
