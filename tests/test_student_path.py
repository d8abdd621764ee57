"""The student's whole path, from the student bundle alone, following its README literally: ``make setup`` in an
empty folder, a notebook run top to bottom (its check cells show reports), ``make check``, ``make submit``, and the
instructor's ``nnkit grade`` on the zip that produced, which must find every file.

Two stand-ins keep it cheap and offline-safe: ``make setup PYTHON=...`` is given an interpreter that is this
machine's Python but whose new virtual environments also see the packages installed here (a ``.pth`` line), so
``pip install -r requirements.lock`` finds everything installed and downloads nothing; and bubblewrap and Landlock
are switched off, as on a laptop without bubblewrap, where the checks run the student's own code unsandboxed (the
sandbox would not mount this machine's packages, which the stand-in environment borrows)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT
from nbclient import NotebookClient
from test_release import unpack

from grader import registry
from nnkit.cells import ANSWER_TAG, PLACEHOLDER, tagged_id
from nnkit.stubgen import CHECK_TAG

STEMS = registry.stems()
DONE = STEMS[:2]  # the student's finished work: the reference modules of the first two questions
NOTEBOOK = STEMS[0]  # the notebook run top to bottom (several check cells)
SITE = sysconfig.get_path("purelib")


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """A student's shell: no make variables of ours, no sandbox available, the quick notebook mode."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTHONPATH")}
    return {**env, "NNKIT_NO_BWRAP": "1", "NNKIT_NO_LANDLOCK": "1", "NNKIT_QUICK": "1",
            "JUPYTER_PATH": str(tmp_path_factory.mktemp("jupyter"))}


@pytest.fixture(scope="module")
def python3(tmp_path_factory) -> Path:
    """The stand-in for ``python3``: this machine's interpreter, whose ``-m venv DIR`` environments also see the
    packages installed here."""
    wrapper = tmp_path_factory.mktemp("bin") / "python3"
    site = Path(sysconfig.get_path("purelib", vars={"base": "DIR"})).relative_to("DIR")
    wrapper.write_text(f"""#!/bin/sh
"{sys._base_executable}" "$@" || exit $?
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then echo "{SITE}" > "$3/{site}/machine-packages.pth"; fi
""")
    wrapper.chmod(0o755)
    return wrapper


@pytest.fixture(scope="module")
def homework(tmp_path_factory, python3, env) -> Path:
    """The bundle unzipped into an empty folder and set up with its README's ``make setup``."""
    bundle = tmp_path_factory.mktemp("dist") / "student-bundle.zip"
    proc = subprocess.run([sys.executable, "-m", "grader.shipping.cli", "release", "--out", str(bundle)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    root = tmp_path_factory.mktemp("student") / "homework"
    unpack(bundle, root)
    readme = (root / "README.md").read_text()
    assert "make setup" in readme and "make submit" in readme
    proc = subprocess.run(["make", "setup", f"PYTHON={python3}"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (root / ".venv" / ".installed").is_file()
    assert "apt-get" not in proc.stdout + proc.stderr and "sudo" not in proc.stdout + proc.stderr
    return root


@pytest.fixture(scope="module")
def worked(homework) -> Path:
    """The student's work: the first two questions' modules written, every written answer filled in."""
    assignments = homework / "assignments"
    for stem in DONE:
        (assignments / f"{stem}.py").write_text((ROOT / "solutions" / f"{stem}.py").read_text())
    for stem in STEMS:
        path = assignments / f"{stem}.ipynb"
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if tagged_id(cell, ANSWER_TAG):
                cell.source = cell.source.replace(PLACEHOLDER, "My answer: see the derivation in the lecture notes.")
        nbformat.write(nb, path)
    return homework


@pytest.fixture(scope="module")
def executed(worked, env, tmp_path_factory) -> nbformat.NotebookNode:
    """The first question's notebook run top to bottom in the bundle's own environment, as Jupyter would."""
    spec = Path(env["JUPYTER_PATH"]) / "kernels" / "homework"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(worked / ".venv" / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "homework (.venv)", "language": "python"}))
    path = worked / "assignments" / f"{NOTEBOOK}.ipynb"
    nb = nbformat.read(path, as_version=4)
    old = dict(os.environ)
    os.environ.update(env)
    try:
        NotebookClient(nb, kernel_name="homework", timeout=600, allow_errors=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return nb


def make(root: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", *args], cwd=root, env=env, capture_output=True, text=True, timeout=900)


def test_setup_installs_jupyterlab_without_root(homework):
    """``make setup`` made .venv with JupyterLab in it and the bundle installed editable, with no apt and no root."""
    python = homework / ".venv" / "bin" / "python"
    proc = subprocess.run([str(python), "-c", "import jupyterlab, nnkit.check, grader; print(grader.__file__)"],
                          cwd=homework / "assignments", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(str(homework)), "the bundle's own grader must be the one imported"


def test_notebook_runs_top_to_bottom_with_check_reports(executed):
    """The notebook runs without an error, and each of its check cells shows an HTML report of its part."""
    errors = [(i, o.ename, o.evalue) for i, c in enumerate(executed.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert not errors
    checks = [c for c in executed.cells if CHECK_TAG in c.metadata.get("tags", [])]
    assert len(checks) >= 2
    for cell in checks:
        html = "".join(o["data"].get("text/html", "") for o in cell.outputs if "data" in o)
        assert "checks passed:" in html and "hidden checks:" in html, cell.source
        assert "FAILED" not in html, html
    # without bubblewrap: said once, calmly
    said = [c for c in checks if "without the grader's sandbox" in json.dumps(c.outputs)]
    assert len(said) == 1


def test_make_check_reports_the_work(worked, env):
    """``make check`` passes the finished questions, fails the stubs, and fails (make's status 2 for the check's 1)."""
    proc = make(worked, env, "check")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.count("without the grader's sandbox") == 1
    for stem in DONE:
        q = registry.by_stem(stem)
        block = proc.stdout.split(f"{q.heading}  {stem}.py")[1].split("\n\n")[0]
        assert "FAILED" not in block, block


@pytest.fixture(scope="module")
def submitted(worked, env, executed, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    return make(worked, env, "submit"), worked / "submission.zip"


def test_make_submit_packs_exactly_what_the_grader_reads(submitted):
    """``make submit`` warns about the failing visible checks, writes submission.zip with every module and notebook
    and nothing else, and says what it packed and where it goes."""
    proc, zip_path = submitted
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = sorted(zipfile.ZipFile(zip_path).namelist())
    assert names == sorted(f"{stem}.{ext}" for stem in STEMS for ext in ("py", "ipynb"))
    assert "warning:" in proc.stdout and "a visible check fails" in proc.stdout
    for name in names:
        assert f"  {name}" in proc.stdout
    assert "Gradescope" in proc.stdout and "GitHub Classroom" in proc.stdout and "course site" in proc.stdout


def test_instructor_grades_the_zip_and_finds_every_file(submitted, tmp_path):
    """The instructor's ``nnkit grade`` on the zip finds every module and notebook: the finished questions earn
    their points, hidden checks included, and every written answer is there."""
    _, zip_path = submitted
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    (submissions / "student1.zip").write_bytes(zip_path.read_bytes())
    out = tmp_path / "grades"
    proc = subprocess.run([sys.executable, "-m", "grader.shipping.cli", "grade", "--submissions", str(submissions),
                           "--out", str(out), "--skip-training", "-j", "1"], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    feedback = (out / "student1" / "feedback.md").read_text()
    assert "NO ANSWER" not in feedback and "ignored" not in feedback.lower(), feedback
    results = json.loads((out / "student1" / "results.json").read_text())
    for stem in DONE:
        mine = [t for t in results["tests"] if stem in t.get("tags", [])]
        assert mine and all(t["score"] == t["max_score"] for t in mine), [t for t in mine
                                                                         if t["score"] != t["max_score"]]
    for stem in STEMS:
        assert f"no {stem}" not in feedback
