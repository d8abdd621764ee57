"""The Gradescope bundle: its contents, and run_autograder in a simulated /autograder tree.

setup.sh is never run here (it installs packages). The stand-in for the virtual environment it would make is a
hard-linked copy of this one whose editable install of the kit points at the bundle's own source instead of the
checkout, exactly what setup.sh's ``pip install -e /autograder/source`` leaves; so the grader, the checks and, inside
bubblewrap, ``nnkit`` all come from the bundle. run_autograder is pointed at it with NNKIT_PYTHON and at the tree
with AUTOGRADER_ROOT, and skips the training checks with NNKIT_SKIP_TRAINING=1.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import jsonschema
import pytest
from conftest import ROOT

from grader import registry
from grader.running import sandbox
from grader.shipping import gradescope

SCHEMA = json.loads((ROOT / "grader" / "schema" / "results.schema.json").read_text())
STEMS = registry.stems()
ONE = STEMS[0]  # a question submitted alone


def training_titles() -> set[str]:
    """The names in results.json (``Q3: <title>``, the part's label first) of the checks marked ``training=True``:
    the ones NNKIT_SKIP_TRAINING=1 leaves at 0.

    Read from the source, independently of the plugin that names them.
    """
    titles = set()
    for q in registry.questions():
        for path in q.check_files():
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if not isinstance(node, ast.FunctionDef):
                    continue
                for dec in node.decorator_list:
                    if isinstance(dec, ast.Call) and ast.unparse(dec.func) == "pytest.mark.check":
                        kwargs = {k.arg: ast.literal_eval(k.value) for k in dec.keywords}
                        if kwargs.get("training"):
                            part = kwargs.get("part") or q.label
                            titles.add(f"{part.upper()}: {ast.get_docstring(node).splitlines()[0]}")
    assert titles, "no training checks found: did the marker change?"
    return titles


def unpack(bundle: Path, dest: Path) -> None:
    """Extract like unzip does: file modes from the archive (zipfile.extractall drops them)."""
    with zipfile.ZipFile(bundle) as zf:
        for info in zf.infolist():
            zf.extract(info, dest)
            if mode := (info.external_attr >> 16) & 0o777:
                os.chmod(dest / info.filename, mode)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist") / "gradescope-autograder.zip"
    gradescope.build(out)
    return out


@pytest.fixture(scope="module")
def autograder(bundle, tmp_path_factory) -> dict:
    """A simulated /autograder (source unpacked, run_autograder copied to the root) and the environment to run it."""
    root = tmp_path_factory.mktemp("autograder")
    unpack(bundle, root / "source")
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "NNKIT_SKIP_TRAINING": "1"}
    env.pop("NNKIT_NO_BWRAP", None)
    venv = root / "venv"
    try:
        shutil.copytree(sys.prefix, venv, symlinks=True, copy_function=os.link)
    except (OSError, shutil.Error):  # another filesystem: grade without bubblewrap, where the checkout's nnkit serves
        shutil.rmtree(venv, ignore_errors=True)
        env.update(NNKIT_PYTHON=sys.executable, NNKIT_NO_BWRAP="1")
        return {"root": root, "env": env}
    site = venv / Path(sysconfig.get_path("purelib")).relative_to(sys.prefix)
    for stale in site.glob("__editable__*nn_autograder_kit*"):
        text = stale.read_text()
        stale.unlink()  # a hard link: the checkout's venv keeps its own
        # the same editable finder, mapping the kit's packages to the bundle (a plain .pth folder entry would need
        # that folder listable, which the Landlock sandbox does not grant)
        stale.write_text(text.replace(repr(str(ROOT))[1:-1], str(root / "source")))
    env["NNKIT_PYTHON"] = str(venv / "bin" / "python")
    return {"root": root, "env": env}


def run_autograder(autograder: dict, files: dict[str, Path] | None, **env) -> tuple[subprocess.CompletedProcess, dict]:
    """Put ``files`` in /autograder/submission (None: no submission directory), run it; (process, results.json)."""
    root = autograder["root"]
    for name in ("submission", "results"):
        shutil.rmtree(root / name, ignore_errors=True)
    if files is not None:
        (root / "submission").mkdir()
        for name, src in files.items():
            shutil.copy(src, root / "submission" / name)
    proc = subprocess.run([str(root / "run_autograder")], cwd=root, env={**autograder["env"], **env},
                          capture_output=True, text=True, timeout=900)
    path = root / "results" / "results.json"
    assert path.is_file(), f"no results.json; exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    results = json.loads(path.read_text())
    jsonschema.validate(results, SCHEMA)
    return proc, results


def test_bundle_follows_gradescopes_layout(bundle):
    with zipfile.ZipFile(bundle) as zf:
        infos = {info.filename: info for info in zf.infolist()}
    for script in ("setup.sh", "run_autograder"):
        assert script in infos, f"{script} must be at the root of the zip"
        assert (infos[script].external_attr >> 16) & 0o111, f"{script} must be executable"
    names = set(infos)
    for needed in ("pyproject.toml", "requirements.lock", "README.md", "grader/registry.py", "grader/shipping/cli.py",
                   "grader/shipping/grade.py", "grader/shipping/gradescope.py", "grader/running/worker.py",
                   "grader/checking/pytest.ini", "grader/hidden/secret.py", "grader/schema/results.schema.json",
                   "nnkit/gradcheck.py", "nnkit/data.py", "questions/__init__.py"):
        assert needed in names, needed
    for q in registry.questions():
        folder = q.folder.relative_to(ROOT).as_posix()
        hidden = sorted(p.relative_to(ROOT).as_posix() for p in q.hidden_dir.rglob("*.py"))
        assert f"{folder}/hidden/checks.py" in hidden, f"{q.stem} has no hidden checks"
        assert set(hidden) <= names, f"{q.stem}: the hidden checks and their helpers belong in the Gradescope bundle"
        assert {f"{folder}/question.toml", f"{folder}/checks.py"} <= names, q.stem


def test_bundle_carries_no_solutions_and_nothing_for_students(bundle):
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        texts = {name: zf.read(name).decode() for name in names}
    assert not [n for n in names if n.split("/")[0] in ("solutions", "assignments", "examples", "tests", ".venv")]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    # a solution region as the stub generator finds it: the marker alone on its line
    assert not [n for n, text in texts.items() if re.search(r"^[ \t]*# BEGIN SOLUTION[ \t]*$", text, re.M)]


def test_bundle_is_reproducible(bundle, tmp_path):
    again = tmp_path / "again.zip"
    gradescope.build(again)
    assert again.read_bytes() == bundle.read_bytes()


def test_build_refuses_a_module_that_imports_solutions(tmp_path):
    repo = tmp_path / "repo"
    for name in ("platforms", "nnkit", "grader", "questions", "pyproject.toml", "requirements.lock", "README.md"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, repo / name)
    (repo / "questions" / ONE / "helper.py").write_text(f"from solutions.{ONE} import *\n")
    with pytest.raises(gradescope.BundleError, match=f"questions/{ONE}/helper.py import solutions"):
        gradescope.build(tmp_path / "out.zip", repo)


# The sandboxes run_autograder is tested in, and the environment that selects each: Landlock is what a Gradescope
# container whose seccomp profile forbids namespaces gets.
MODES = {"bubblewrap": {}, "landlock": {"NNKIT_NO_BWRAP": "1"}}


def expected_mode(autograder: dict, mode: str) -> str:
    if autograder["env"].get("NNKIT_NO_BWRAP") == "1" or not sandbox.bwrap_available():
        return "landlock" if sandbox.landlock_available() else "none"
    return mode


@pytest.mark.parametrize("mode", sorted(MODES))
def test_reference_gets_full_marks_on_every_non_training_check(autograder, mode):
    if mode == "landlock" and not sandbox.landlock_available():
        pytest.skip(f"this kernel cannot run the Landlock sandbox: {sandbox._landlock_trial()}")
    proc, results = run_autograder(autograder, {f"{s}.py": ROOT / "solutions" / f"{s}.py" for s in STEMS},
                                   **MODES[mode])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    training = training_titles()
    lost = [t["name"] for t in results["tests"]
            if t["score"] < t["max_score"] and t["name"].split(" [")[0] not in training]
    assert not lost, f"the reference lost points on {lost}"
    skipped = [t for t in results["tests"] if t["name"] in training]
    assert len(skipped) == len(training) and all(t["score"] == 0 for t in skipped)
    assert {t["tags"][0] for t in results["tests"]} == set(STEMS)
    assert any(t.get("visibility") == "after_published" for t in results["tests"]), "hidden checks did not run"
    nnkit = results["extra_data"]["nnkit"]
    assert nnkit["sandbox"] == expected_mode(autograder, mode) and nnkit["sandboxed"] is True
    assert {"bubblewrap": "(bubblewrap)", "landlock": "(Landlock and seccomp"}[nnkit["sandbox"]] in results["output"]


def test_grader_itself_succeeds_without_the_solutions(autograder):
    files = {f"{ONE}.py": ROOT / "solutions" / f"{ONE}.py"}
    proc, results = run_autograder(autograder, files)
    assert results["extra_data"]["nnkit"]["grader_exit_status"] == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_stubs_score_zero_without_crashing(autograder, mode):
    proc, results = run_autograder(autograder, {f"{s}.py": ROOT / "assignments" / f"{s}.py" for s in STEMS},
                                   **MODES[mode])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert results["score"] == 0 and results["tests"]
    assert all(t["score"] == 0 and t["status"] == "failed" for t in results["tests"])
    assert not [t["name"] for t in results["tests"] if "internal grader error" in t.get("output", "")]
    assert any("NotImplementedError" in t.get("output", "") for t in results["tests"])
    assert results["extra_data"]["nnkit"]["sandbox"] == expected_mode(autograder, mode)


def test_without_bubblewrap_it_grades_under_landlock(autograder):
    if not sandbox.landlock_available():
        pytest.skip(f"this kernel cannot run the Landlock sandbox: {sandbox._landlock_trial()}")
    files = {f"{ONE}.py": ROOT / "solutions" / f"{ONE}.py"}
    proc, results = run_autograder(autograder, files, NNKIT_NO_BWRAP="1", NNKIT_REQUIRE_SANDBOX="1")
    assert proc.returncode == 0
    assert "Your code ran in a sandbox (Landlock and seccomp, as an unprivileged user)." in results["output"]
    nnkit = results["extra_data"]["nnkit"]
    assert nnkit["sandbox"] == "landlock" and nnkit["sandboxed"] is True
    assert nnkit["sandbox_problem"] == "NNKIT_NO_BWRAP=1 is set"
    assert "student code runs under Landlock and seccomp" in proc.stdout
    assert sum(t["score"] for t in results["tests"] if t["tags"][0] == ONE) > 0


def test_without_any_sandbox_it_refuses_unless_told(autograder):
    """Neither sandbox usable: a placeholder results.json; with NNKIT_RUN_STUDENT_CODE_UNSANDBOXED=1 it grades and
    every output says it ran without a sandbox."""
    files = {f"{ONE}.py": ROOT / "solutions" / f"{ONE}.py"}
    none = {"NNKIT_NO_BWRAP": "1", "NNKIT_NO_LANDLOCK": "1"}
    proc, results = run_autograder(autograder, files, **none)
    assert proc.returncode != 0 and results["score"] == 0 and results["tests"] == []
    assert results["output"] == gradescope.GRADER_FAILED
    assert "the grader will refuse to run student code" in proc.stdout
    proc, results = run_autograder(autograder, files, **none, NNKIT_RUN_STUDENT_CODE_UNSANDBOXED="1")
    assert proc.returncode == 0
    assert "WITHOUT a sandbox" in results["output"]
    assert results["extra_data"]["nnkit"]["sandbox"] == "none" and results["extra_data"]["nnkit"]["sandboxed"] is False
    assert "student code runs WITHOUT a sandbox" in proc.stdout
    assert sum(t["score"] for t in results["tests"] if t["tags"][0] == ONE) > 0


def test_require_sandbox_refuses_and_still_writes_results(autograder):
    files = {f"{ONE}.py": ROOT / "solutions" / f"{ONE}.py"}
    proc, results = run_autograder(autograder, files, NNKIT_NO_BWRAP="1", NNKIT_NO_LANDLOCK="1",
                                   NNKIT_REQUIRE_SANDBOX="1", NNKIT_RUN_STUDENT_CODE_UNSANDBOXED="1")
    assert proc.returncode != 0
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"] == gradescope.GRADER_FAILED
    assert "GRADER FAILED" in proc.stdout


def test_missing_submission_directory_still_gives_valid_results(autograder):
    proc, results = run_autograder(autograder, None)
    assert proc.returncode != 0
    assert results["score"] == 0 and "submission" in results["extra_data"]["nnkit"]["grader_error"]


def test_empty_submission_scores_zero(autograder):
    proc, results = run_autograder(autograder, {})
    assert proc.returncode == 0
    assert results["score"] == 0 and results["tests"]
    training = training_titles()
    assert all("was not found in the submission" in t["output"] for t in results["tests"]
               if t["name"] not in training), [t["output"] for t in results["tests"]][:3]


def _notebook_with_answers(answers: dict[str, str]) -> str:
    import nbformat

    nb = nbformat.read(ROOT / "assignments" / f"{ONE}.ipynb", as_version=4)
    for cell in nb.cells:
        for tag in cell.metadata.get("tags", []):
            if tag in answers:
                cell.source = answers[tag]
    return nbformat.writes(nb)


XSS = "<script>alert('xss')</script><img src=x onerror=alert(1)>"


def test_written_answers_reach_results_json_as_safe_html(autograder, tmp_path):
    """A TA grading on Gradescope reads each written answer in results.json's output: rendered as the TA pages render
    it (math as MathML, raw HTML as text), with the grader's own text kept above it."""
    notebook = tmp_path / f"{ONE}.ipynb"
    notebook.write_text(_notebook_with_answers({"answer:q1a": f"Two steps: $\\sigma(x) - \\sigma(x - \\delta)$. {XSS}",
                                                "answer:q1b": "See [my notes](https://example.invalid/n)."}))
    proc, results = run_autograder(autograder, {f"{ONE}.py": ROOT / "solutions" / f"{ONE}.py",
                                                f"{ONE}.ipynb": notebook})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert results["output_format"] == "html"
    html = results["output"]
    assert html.startswith("<pre>") and "sandbox" in html.split("</pre>")[0]
    assert "<h2>Written answers</h2>" in html and f"Notebooks handed in: {ONE}.ipynb; none for" in html
    assert "<h3>Q1A" in html and "<math" in html and "Two steps" in html
    assert "<script>" not in html and "<img src=x" not in html and "&lt;script&gt;" in html
    assert 'href="https://example.invalid' not in html and "https://example.invalid/n" in html
    assert "<h3>Q1C" in html and "the answer cell is empty" in html
    assert sum(t["score"] for t in results["tests"]) > 0  # the checks were graded as before


def test_without_a_notebook_the_output_stays_text(autograder):
    proc, results = run_autograder(autograder, {f"{ONE}.py": ROOT / "solutions" / f"{ONE}.py"})
    assert proc.returncode == 0
    assert "output_format" not in results and "<h2>" not in results["output"]


def test_written_section_is_bounded(tmp_path, monkeypatch):
    long = "word " * (gradescope.ANSWER_CHARS // 2)
    image = {"big.png": {"image/png": "A" * (gradescope.ANSWER_HTML_CHARS + 10)}}
    cells = [{"tags": ["answer:q1a"], "source": long, "index": 1},
             {"tags": ["answer:q1b"], "source": "![big](attachment:big.png)", "index": 2, "attachments": image},
             {"tags": [], "source": "# not an answer", "index": 3}]
    (tmp_path / "answers.json").write_text(json.dumps({ONE: cells}))
    html = gradescope.written_section(tmp_path)
    assert f"Only the first {gradescope.ANSWER_CHARS:,} of {len(long):,} characters are shown" in html
    assert "pasted images are too large to show here" in html and "A" * 1000 not in html
    assert "not an answer" not in html
    assert len(html) < 2 * gradescope.ANSWER_HTML_CHARS
    monkeypatch.setattr(gradescope, "OUTPUT_CHARS", 2000)
    html = gradescope.written_section(tmp_path)
    assert "2 more answer(s) not shown" in html and len(html) < 2500
    (tmp_path / "answers.json").write_text(json.dumps({ONE: []}))
    assert gradescope.written_section(tmp_path) == ""
    (tmp_path / "answers.json").write_text("[1, 2]")
    assert gradescope.written_section(tmp_path) == ""
