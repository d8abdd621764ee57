"""``make submit`` / ``submit()``: the pre-flight refuses, naming it, whatever would cost points, and the zip holds
exactly the files the grader reads. (The visible checks' warnings are shown in tests/test_student_path.py.)"""

from __future__ import annotations

import shutil
import zipfile

import nbformat
import pytest
from conftest import ROOT

from grader import registry
from nnkit.cells import ANSWER_TAG, PLACEHOLDER, tagged_id
from nnkit.submit import main, preflight, submit

STEMS = registry.stems()
FILES = sorted(f"{stem}.{ext}" for stem in STEMS for ext in ("py", "ipynb"))


@pytest.fixture
def work(tmp_path):
    """A copy of assignments/ with every written answer filled in (the stubs import; their checks would fail)."""
    folder = tmp_path / "assignments"
    shutil.copytree(ROOT / "assignments", folder)
    for stem in STEMS:
        nb = nbformat.read(folder / f"{stem}.ipynb", as_version=4)
        for cell in nb.cells:
            if tagged_id(cell, ANSWER_TAG):
                cell.source = cell.source.replace(PLACEHOLDER, "An answer, with $y_i (\\delta_{ij} - y_j)$.")
        nbformat.write(nb, folder / f"{stem}.ipynb")
    return folder


def test_complete_work_is_packed_exactly(work, capsys):
    """Every module and notebook, nothing else (not the figures, not a stray file), and where to hand it in."""
    (work / "notes.txt").write_text("mine")
    (work / "figures").mkdir()
    out = submit(work, run_checks=False)
    assert out == work.parent / "submission.zip"
    assert sorted(zipfile.ZipFile(out).namelist()) == FILES
    for name in FILES:
        assert zipfile.ZipFile(out).read(name) == (work / name).read_bytes()
    said = capsys.readouterr().out
    assert f"Wrote {out} with {len(FILES)} files" in said and "Gradescope" in said and "course site" in said


def test_empty_written_answers_are_refused(tmp_path, capsys):
    """The untouched notebooks: each empty written answer is named, and nothing is written."""
    folder = tmp_path / "assignments"
    shutil.copytree(ROOT / "assignments", folder)
    found = preflight(folder, run_checks=False)
    answers = {tagged_id(c, ANSWER_TAG) for stem in STEMS
               for c in nbformat.read(folder / f"{stem}.ipynb", as_version=4).cells if tagged_id(c, ANSWER_TAG)}
    for answer in answers:
        assert any(p.startswith(f"{registry.heading(answer)}: the written answer") for p in found.problems), answer
    assert submit(folder, run_checks=False) is None
    assert not (tmp_path / "submission.zip").exists()
    assert "NOT SUBMITTED" in capsys.readouterr().out


def test_missing_files_are_refused(work):
    stem = STEMS[1]
    (work / f"{stem}.ipynb").unlink()
    (work / f"{STEMS[0]}.py").unlink()
    problems = preflight(work, run_checks=False).problems
    assert problems == [f"{registry.by_stem(STEMS[0]).heading}: {STEMS[0]}.py is missing (your code for "
                        f"{registry.by_stem(STEMS[0]).heading} is in it)",
                        f"{registry.by_stem(stem).heading}: {stem}.ipynb is missing (your written answers are in it)"]


def test_a_notebook_that_does_not_parse_is_refused(work):
    stem = STEMS[2]
    (work / f"{stem}.ipynb").write_text('{"cells": [')
    problems = preflight(work, run_checks=False).problems
    assert len(problems) == 1 and f"{stem}.ipynb is not a readable notebook" in problems[0]


def test_a_module_that_does_not_import_is_refused(work):
    stem = STEMS[3]
    source = (work / f"{stem}.py").read_text()
    (work / f"{stem}.py").write_text(source + "\nraise RuntimeError('left over from debugging')\n")
    problems = preflight(work, run_checks=False).problems
    assert problems == [f"{registry.by_stem(stem).heading}: {stem}.py: it does not import: "
                        f"RuntimeError: left over from debugging"]


def test_anyway_packs_despite_the_refusal_and_the_command_line_exits_1_without_it(work, capsys):
    stem = STEMS[0]
    (work / f"{stem}.ipynb").unlink()
    assert main([str(work), "--out", str(work.parent / "a.zip")]) == 1
    assert not (work.parent / "a.zip").exists()
    out = submit(work, work.parent / "b.zip", anyway=True, run_checks=False)
    assert sorted(zipfile.ZipFile(out).namelist()) == [n for n in FILES if n != f"{stem}.ipynb"]
    assert "Packing it anyway" in capsys.readouterr().out
