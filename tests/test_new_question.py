"""A course grows by adding a folder: a fifth question, added to a copy of the repository by creating files in
``questions/q5_toy/`` and ``solutions/`` only, is generated, graded, checked, released and bundled for Gradescope
with no other file edited."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

TOY = ROOT / "tests" / "fixtures" / "toy_question"
STEM = "q5_toy"


def copy_repository(dest: Path) -> Path:
    """The working tree as git sees it (ignored files left out), timestamps kept."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    return dest


def make(repo: Path, *args: str, ok=(0,)) -> subprocess.CompletedProcess:
    # the copy's own packages come first on the path (the shared environment's editable install points at ROOT)
    env = {**os.environ, "PYTHONPATH": str(repo), "PYTHONDONTWRITEBYTECODE": "1"}
    # -o: never remake the environment, which is the repository's own (setup would reinstall it from the copy)
    proc = subprocess.run(["make", "--no-print-directory", "-o", ".venv/.installed", *args], cwd=repo, env=env,
                          capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode in ok, f"make {' '.join(args)} exited with {proc.returncode}:\n{proc.stdout[-3000:]}" \
                                  f"\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = copy_repository(tmp_path_factory.mktemp("course"))
    before = {p.relative_to(repo).as_posix(): p.read_bytes() for p in repo.rglob("*")
              if p.is_file() and ".venv" not in p.parts}
    shutil.copytree(TOY / "questions", repo / "questions", dirs_exist_ok=True)
    shutil.copytree(TOY / "solutions", repo / "solutions", dirs_exist_ok=True)
    added = {p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file() and ".venv" not in p.parts}
    added -= set(before)
    assert all(name.startswith(("questions/q5_toy/", "solutions/q5_toy.")) for name in added), added
    make(repo, "assignments")
    return repo


@pytest.mark.slow
def test_assignments_generates_the_stub_and_the_notebook(repo):
    stub = (repo / "assignments" / f"{STEM}.py").read_text()
    assert "raise NotImplementedError" in stub and "2.0 * np.asarray" not in stub
    assert stub.startswith("# q5_toy.py: your file to edit;")
    assert (repo / "assignments" / f"{STEM}.ipynb").is_file()
    assert "make check Q=q5" in (repo / "platforms" / "github-classroom" / "classroom.yml").read_text()
    for path in (repo / "assignments").iterdir():  # every other generated file is as committed
        if not path.name.startswith(STEM):
            assert path.read_bytes() == (ROOT / "assignments" / path.name).read_bytes(), path.name


@pytest.mark.slow
def test_grade_gives_the_reference_full_marks_and_the_stub_zero(repo, tmp_path):
    subs = tmp_path / "subs"
    (subs / "reference").mkdir(parents=True)
    (subs / "stub").mkdir()
    shutil.copy(repo / "solutions" / f"{STEM}.py", subs / "reference")
    shutil.copy(repo / "assignments" / f"{STEM}.py", subs / "stub")
    out = tmp_path / "out"
    make(repo, "grade", f"SUBMISSIONS={subs}", f"OUT={out}", "J=2")
    with open(out / "gradebook.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert STEM in next(iter(rows.values())), "no q5_toy column in gradebook.csv"
    assert float(rows["reference"][STEM]) == 3 and float(rows["stub"][STEM]) == 0
    feedback = (out / "stub" / "feedback.md").read_text()
    assert "Q5" in feedback and "Doubling numbers" in feedback and "still the stub" in feedback
    assert "Doubling numbers" in (out / "similarity.html").read_text()


@pytest.mark.slow
def test_check_runs_the_new_questions_visible_checks(repo):
    failing = make(repo, "check", "Q=q5", ok=(2,))  # make's status when the command exits 1: a check failed
    assert "Error 1" in failing.stderr and "Q5" in failing.stdout
    assert "FAILED" in failing.stdout and "double(x) returns 2 x, entry by entry" in failing.stdout
    assert "hidden checks: 1 not run" in failing.stdout
    passing = make(repo, "check", "Q=q5", "DIR=solutions")
    assert "checks passed: 1 of 1" in passing.stdout


@pytest.mark.slow
def test_release_ships_the_stub_and_visible_checks_but_not_the_hidden_check(repo):
    make(repo, "release")
    names = zipfile.ZipFile(repo / "dist" / "student-bundle.zip").namelist()
    assert f"assignments/{STEM}.py" in names and f"assignments/{STEM}.ipynb" in names
    assert f"questions/{STEM}/checks.py" in names and f"questions/{STEM}/question.toml" in names
    assert not [n for n in names if n.startswith(f"questions/{STEM}/hidden")], names
    assert not [n for n in names if n.startswith("solutions/")]


@pytest.mark.slow
def test_gradescope_bundle_includes_the_new_question(repo):
    make(repo, "gradescope")
    names = zipfile.ZipFile(repo / "dist" / "gradescope-autograder.zip").namelist()
    for name in ("checks.py", "question.toml", "hidden/checks.py"):
        assert f"questions/{STEM}/{name}" in names
    assert not [n for n in names if n.startswith("solutions/")]


def test_the_toy_question_is_valid_for_the_registry(tmp_path):
    """The fixture itself is complete (the registry's own check), so the slow tests above test the kit, not it."""
    from grader import registry

    shutil.copytree(TOY / "questions", tmp_path / "questions")
    assert [q.stem for q in registry.questions(tmp_path / "questions")] == [STEM]
    assert registry.problems(tmp_path / "questions", TOY / "solutions") == []
