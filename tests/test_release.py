"""`make release`: the student bundle works on its own and gives nothing away.

The bundle is built as `make release` builds it, unzipped, and its own `make check` is run in it: on the stubs it
ships (no points, no crash) and on the reference solutions copied over them (every visible point that runs without
training). The interpreter is a stand-in for the virtual environment the bundle's `make setup` makes: a hard-linked
copy of this one whose editable install of the kit is replaced by a path to the unzipped bundle, so the grader, the
checks and, inside bubblewrap, nnkit all come from the bundle (a real install would download TensorFlow).

What it must not hold is checked independently of the build's own refusal (grader.shipping.release.solution_leaks),
which is tested against planted leaks.
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
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from grader import registry
from nnkit import stubgen

QUESTIONS = registry.questions()
STEMS = registry.stems()
WORKFLOW = ROOT / "platforms" / "github-classroom" / "classroom.yml"
SECRET = ROOT / "grader" / "hidden" / "secret.py"


def folder(q) -> str:
    return q.folder.relative_to(ROOT).as_posix()


def with_expected_values(q) -> bool:
    """Whether the question's visible checks compare against its instructor-only reference module, whose values the
    bundle then carries in ``expected.npz``."""
    return (q.hidden_dir / "reference.py").is_file()


NEEDED = ["README.md", "Makefile", "pyproject.toml", "requirements.lock", ".gitignore", "scripts/system-packages.sh",
          ".github/workflows/classroom.yml",
          "nnkit/__init__.py", "nnkit/data.py", "nnkit/gradcheck.py", "nnkit/files.py",
          "grader/__init__.py", "grader/registry.py", "grader/files.py", "grader/shipping/cli.py",
          "grader/shipping/local.py", "grader/checking/plugin.py", "grader/checking/checklib.py",
          "grader/checking/command.py", "grader/checking/pytest.ini", "grader/running/runner.py",
          "grader/running/worker.py", "grader/running/protocol.py", "grader/running/sandbox.py",
          "grader/running/kinds.py", "grader/intake/submission.py", "questions/__init__.py",
          "questions/hidden_counts.json",
          *(f"assignments/{stem}.{ext}" for stem in STEMS for ext in ("py", "ipynb")),
          *(f"{folder(q)}/{name}" for q in QUESTIONS for name in ("__init__.py", "question.toml", "checks.py")),
          *(f"{folder(q)}/{p.name}" for q in QUESTIONS for p in q.folder.glob("*.py")),
          *(f"{folder(q)}/expected.npz" for q in QUESTIONS if with_expected_values(q))]
# Instructor-only commands: none is in the bundle (its cli.py names them, and says they are not part of it).
INSTRUCTOR_TOOLS = {"nnkit/stubgen.py", "grader/shipping/release.py", "grader/shipping/gradescope.py",
                    "grader/shipping/grade.py", "grader/shipping/merge.py", "grader/shipping/classroom.py"}
# What the reference solutions and modules define: none of it may be defined in the bundle outside the stubs (where
# each such function is a docstring and `raise NotImplementedError`). Q1's step-network forward pass is the spec (its
# common.py), not a solution.
REFERENCE_FUNCTIONS = {"softmax", "softmax_jacobian", "central_jacobian", "jacobian_candidates", "forward", "backward",
                       "sample_loss", "evaluate", "gradient", "central_gradient", "train_one_sample"}
REFERENCE_FUNCTIONS |= {node.name for q in QUESTIONS for path in q.hidden_dir.glob("reference*.py")
                        for node in ast.parse(path.read_text(encoding="utf-8")).body
                        if isinstance(node, ast.FunctionDef)}
SUMMARY = re.compile(r"^Visible checks: (\d+) of (\d+) passed, ([\d.]+) of ([\d.]+) points\.$", re.M)


def unpack(bundle: Path, dest: Path) -> None:
    """Extract like unzip does: file modes from the archive (zipfile.extractall drops them)."""
    with zipfile.ZipFile(bundle) as zf:
        for info in zf.infolist():
            zf.extract(info, dest)
            if mode := (info.external_attr >> 16) & 0o777:
                os.chmod(dest / info.filename, mode)


def norm(line: str) -> str:
    return " ".join(line.split())


def lines_of(name: str, text: str) -> list[str]:
    """A file's lines as a reader sees them: a notebook's cell sources, not its JSON."""
    if name.endswith(".ipynb"):
        return [line for cell in nbformat.reads(text, as_version=4).cells for line in cell.source.splitlines()]
    return text.splitlines()


def regions(text: str, begin: re.Pattern, end: re.Pattern) -> list[str]:
    out, inside = [], False
    for line in text.splitlines():
        if begin.match(line):
            inside = True
        elif end.match(line):
            inside = False
        elif inside:
            out.append(line)
    return out


def visible_points_without_training(root: Path) -> float:
    """The points of the visible checks that run without FULL=1, read from their markers in the bundle ``root``."""
    total = 0.0
    for q in registry.questions(root / "questions"):
        assert q.check_files() == [q.visible_checks], f"{q.stem}: hidden checks in the bundle"
        for node in ast.parse(q.visible_checks.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                for dec in node.decorator_list:
                    if isinstance(dec, ast.Call) and ast.unparse(dec.func) == "pytest.mark.check":
                        kwargs = {k.arg: ast.literal_eval(k.value) for k in dec.keywords}
                        assert not kwargs.get("hidden")
                        total += 0.0 if kwargs.get("training") else float(kwargs["points"])
    return total


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist") / "student-bundle.zip"
    proc = subprocess.run([sys.executable, "-m", "grader.shipping.cli", "release", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture(scope="module")
def files(bundle) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


@pytest.fixture(scope="module")
def texts(files) -> dict[str, str]:
    return {name: data.decode("utf-8") for name, data in files.items() if not name.endswith(".npz")}


@pytest.fixture(scope="module")
def unpacked(bundle, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bundle") / "homework"
    unpack(bundle, root)
    return root


@pytest.fixture(scope="module")
def environment(unpacked, tmp_path_factory) -> tuple[str, dict]:
    """(the interpreter for the bundle's `make check PY=...`, the environment to run make in)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "NNKIT_NO_BWRAP")}
    venv = tmp_path_factory.mktemp("venv") / "venv"
    try:
        shutil.copytree(sys.prefix, venv, symlinks=True, copy_function=os.link)
    except (OSError, shutil.Error):  # another filesystem: without bubblewrap, where the checkout's nnkit serves
        shutil.rmtree(venv, ignore_errors=True)
        return sys.executable, {**env, "PYTHONPATH": str(unpacked), "NNKIT_NO_BWRAP": "1"}
    site = venv / Path(sysconfig.get_path("purelib")).relative_to(sys.prefix)
    for stale in site.glob("__editable__*nn_autograder_kit*"):
        stale.unlink()  # a hard link: the checkout's venv keeps its own
    (site / "student_bundle.pth").write_text(f"{unpacked}\n")
    return str(venv / "bin" / "python"), env


@pytest.fixture(scope="module")
def runs(unpacked, environment) -> dict[str, subprocess.CompletedProcess]:
    """The bundle's `make check` on its own stubs, then on the reference solutions copied over them."""
    python, env = environment

    def make_check():
        return subprocess.run(["make", "-s", "check", f"PY={python}"], cwd=unpacked, env=env, capture_output=True,
                              text=True, timeout=900)
    out = {"stubs": make_check()}
    for stem in STEMS:
        shutil.copy(ROOT / "solutions" / f"{stem}.py", unpacked / "assignments" / f"{stem}.py")
    out["reference"] = make_check()
    return out


def test_bundle_holds_what_make_check_needs(files, texts):
    assert not [name for name in NEEDED if name not in files]
    assert files["requirements.lock"] == (ROOT / "requirements.lock").read_bytes()
    # the committed template is the generated workflow (tests/test_github_classroom.py), so the bundle's is too
    assert files[".github/workflows/classroom.yml"] == WORKFLOW.read_bytes()
    generated = stubgen.generate_all(ROOT / "solutions", ROOT / "assignments")
    assert {p.relative_to(ROOT).as_posix(): text for p, text in generated.items()} == {
        name: text for name, text in texts.items() if name.startswith("assignments/")}
    counts = json.loads(texts["questions/hidden_counts.json"])
    assert set(counts) == set(STEMS) and all(type(n) is int and n > 0 for n in counts.values())
    readme = texts["README.md"]
    for needed in ("make setup", "make check  ", f"make check Q={QUESTIONS[0].label}", "make check FULL=1",
                   "requirements.lock", "pip install -e .", "## Hidden checks"):
        assert needed in readme, needed
    for q in QUESTIONS:
        assert f"| {q.heading} | `{q.stem}` |" in readme, q.stem
    assert "${" not in readme


def test_pyproject_installs_the_kit_with_its_data(unpacked, tmp_path):
    meta = tomllib.loads((unpacked / "pyproject.toml").read_text())
    assert meta["tool"]["setuptools"]["packages"]["find"]["include"] == ["nnkit*", "grader*", "questions*"]
    assert meta["project"]["scripts"]["nnkit"] == "grader.shipping.cli:main"
    source = tmp_path / "source"
    shutil.copytree(unpacked, source, ignore=shutil.ignore_patterns("*.egg-info", "build"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp_path / "wheel"), str(source)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [wheel] = (tmp_path / "wheel").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    needed = {"grader/shipping/local.py", "grader/shipping/cli.py", "grader/checking/pytest.ini",
              "questions/hidden_counts.json", "nnkit/gradcheck.py"}
    needed |= {f"{folder(q)}/{name}" for q in QUESTIONS for name in ("question.toml", "checks.py")}
    needed |= {f"{folder(q)}/expected.npz" for q in QUESTIONS if with_expected_values(q)}
    assert not needed - names
    assert not [n for n in names if n.startswith(("assignments/", "solutions/")) or "hidden/" in n]


def test_zip_is_deterministic_in_form(bundle):
    with zipfile.ZipFile(bundle) as zf:
        infos = zf.infolist()
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in infos}
    assert modes["scripts/system-packages.sh"] == 0o755 and modes["grader/shipping/local.py"] == 0o644


def test_no_solutions_hidden_checks_or_instructor_tools(files):
    bad = [name for name in files if name.startswith(("solutions/", "tests/", "examples/", "platforms/"))
           or registry.HIDDEN in name.split("/")[:-1] or "reference" in name or name in INSTRUCTOR_TOOLS
           or "__pycache__" in name or name.endswith(".pyc")]
    assert not bad
    # what the build leaves out on purpose really exists, so the assertion above is not vacuous
    assert SECRET.is_file() and all(q.hidden_checks.is_file() for q in QUESTIONS)
    assert all((ROOT / tool).is_file() for tool in INSTRUCTOR_TOOLS)


def test_no_solution_marker_and_no_constant_secret(texts):
    # the training secret is drawn fresh for every grading run: the repository holds no seed that could leak
    assert not [n for n in ast.walk(ast.parse(SECRET.read_text())) if isinstance(n, ast.Assign)], SECRET
    for name, text in texts.items():
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, name
        assert not re.search(r"PIXEL_PERMUTATION_SEED\s*=", text), name


def test_no_line_of_a_solution_region_or_of_a_reference_answer(texts):
    given = {norm(line) for path, text in stubgen.generate_all(ROOT / "solutions", ROOT / "assignments").items()
             for line in lines_of(path.name, text)}
    secret_lines = set()
    for path in sorted((ROOT / "solutions").glob("*.py")):
        secret_lines.update(regions(path.read_text(encoding="utf-8"), stubgen.BEGIN, stubgen.END))
    answers = set()
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                secret_lines.update(regions(cell.source, stubgen.BEGIN, stubgen.END))
            elif stubgen.tagged_id(cell, stubgen.RUBRIC_TAG):
                answers.update(cell.source.splitlines())
            else:
                answers.update(regions(cell.source, stubgen.MD_BEGIN, stubgen.MD_END))
    secret_lines = {norm(line) for line in secret_lines | answers if len(norm(line)) >= 20} - given
    assert "return np.diag(y) - np.outer(y, y)" in secret_lines  # the comparison sees what it should
    assert len({norm(a) for a in answers} & secret_lines) > 50
    found = {(name, norm(line)) for name, text in texts.items() for line in lines_of(name, text)
             if norm(line) in secret_lines}
    assert not found


def test_no_reference_code_for_the_softmax_jacobian_or_backprop(texts):
    for name, text in texts.items():
        code = "\n".join(lines_of(name, text)) if name.endswith((".py", ".ipynb")) else ""
        assert not re.search(r"np\.outer\(", code), name
        assert not re.search(r"np\.diag\(\s*\w+\s*\)\s*-", code), name
        if name.endswith(".py") and not name.startswith("assignments/"):
            defined = {n.name for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef)}
            allowed = {"forward"} if name == "questions/q1_expressivity/common.py" else set()
            assert not (defined & REFERENCE_FUNCTIONS) - allowed, name


def test_the_builds_own_leak_scan_passes_the_bundle_and_catches_planted_leaks(files):
    from grader.shipping import release

    fp = release.fingerprints()
    assert release.solution_leaks(files, fp) == []
    backward = ("\ndef _grads(W, b, x, y):\n    a1 = sig(x @ W[0] + b[0])\n    d3 = p - np.eye(10)[y]\n"
                "    d1 = (d2 @ W[1].T) * (a1 * (1 - a1))\n"
                "    return [np.outer(x, d1), np.outer(a1, d2), np.outer(a2, d3)], [d1, d2, d3]\n")
    jacobian = "\ndef _exact(v):\n    return np.diag(v) - np.outer(v, v)\n"
    batch_forward = "\ndef _probs(ws, bs, h):\n    for w, c in zip(ws[:-1], bs[:-1]):\n        h = sigmoid(h @ w + c)\n"
    nb = nbformat.reads(files["assignments/q4_numpy_backprop.ipynb"].decode(), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("%matplotlib inline\nz = a2 @ weights[-1] + biases[-1]\n"
                                              "e = np.exp(z - z.max(axis=-1, keepdims=True))\n"))
    answer = next(line for line in regions(nbformat.read(ROOT / "solutions/q1_expressivity.ipynb", 4).cells[
        next(i for i, c in enumerate(nbformat.read(ROOT / "solutions/q1_expressivity.ipynb", 4).cells)
             if stubgen.tagged_id(c, stubgen.ANSWER_TAG))].source, stubgen.MD_BEGIN, stubgen.MD_END)
        if len(norm(line)) >= 40)
    q2, q3, q4 = (f"questions/{stem}/common.py" for stem in
                  ("q2_softmax_jacobian", "q3_fashion_mnist", "q4_numpy_backprop"))
    planted = {
        q4: files[q4] + backward.encode(),
        q2: files[q2] + jacobian.encode(),
        q3: files[q3] + batch_forward.encode(),
        "assignments/q4_numpy_backprop.ipynb": nbformat.writes(nb).encode(),
        "README.md": files["README.md"] + f"\n{answer}\n".encode(),
        # any folder named hidden, at any depth
        **{q.hidden_checks.relative_to(ROOT).as_posix(): b"" for q in QUESTIONS},
        "grader/hidden/secret.py": b"",
        f"{folder(QUESTIONS[0])}/notes.txt": b"# BEGIN SOLUTION",
    }
    leaks = release.solution_leaks({**files, **planted}, fp)
    for name in planted:
        assert [leak for leak in leaks if leak.startswith(name + ":")], (name, leaks)
    assert not [leak for leak in leaks if leak.split(":")[0] not in planted]
    assert any("np.outer(x, d1)" in leak for leak in leaks)  # renamed (delta1 -> d1) and still found


def test_stored_expected_values_are_the_references(bundle):
    # in a process of its own: importing the check modules here would register them with this session
    script = (
        "import importlib, io, sys, zipfile\nimport numpy as np\n"
        "from grader import registry\nfrom grader.checking.checklib import Expected\n"
        "zf = zipfile.ZipFile(sys.argv[1])\n"
        "stored_files = {n for n in zf.namelist() if n.endswith('.npz')}\n"
        "declared = set()\n"
        "for q in registry.questions():\n"
        "    expected = getattr(importlib.import_module(f'{q.package}.checks'), 'EXPECTED', None)\n"
        "    if not isinstance(expected, Expected):\n"
        "        continue\n"
        "    name = f'questions/{q.stem}/expected.npz'\n"
        "    declared.add(name)\n"
        "    stored = np.load(io.BytesIO(zf.read(name)))\n"
        "    fresh = expected.compute_all()\n"
        "    assert sorted(stored.files) == sorted(fresh), q.stem\n"
        "    for k, v in fresh.items():\n"
        "        assert stored[k].shape == v.shape and np.array_equal(stored[k], v), (q.stem, k)\n"
        "assert declared and declared == stored_files, (declared, stored_files)\n"
        "print('ok')\n")
    # the stored values are for the published inputs (at grading time the inputs are fresh: test_fresh_inputs.py)
    env = {**os.environ, "NNKIT_PUBLISHED_INPUTS": "1"}
    proc = subprocess.run([sys.executable, "-c", script, str(bundle)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr


def test_make_check_in_the_bundle_on_its_stubs(runs, texts):
    proc = runs["stubs"]
    assert proc.returncode != 0, proc.stdout + proc.stderr  # a check failed: make reports it
    passed, ran, score, points = SUMMARY.search(proc.stdout).groups()
    assert (int(passed), float(score)) == (0, 0.0) and int(ran) > 0
    assert "internal grader error" not in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    counts = json.loads(texts["questions/hidden_counts.json"])
    for stem, n in counts.items():
        assert f"hidden checks: {n} not run" in proc.stdout
    assert not re.search(r"all (visible )?(tests|checks) passed", proc.stdout, re.I)


def test_make_check_in_the_bundle_on_the_reference(runs, unpacked):
    proc = runs["reference"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    passed, ran, score, points = SUMMARY.search(proc.stdout).groups()
    assert passed == ran and float(score) == float(points) == visible_points_without_training(unpacked)
    assert "FAILED" not in proc.stdout
    assert "hidden checks were not run" in proc.stdout


def test_the_build_refuses_a_bundle_missing_a_module_it_imports(files):
    from grader.shipping import release

    assert release.missing_imports(files) == []
    without = {name: data for name, data in files.items() if name != "grader/running/sandbox.py"}
    assert "grader/running/runner.py: grader.running.sandbox" in release.missing_imports(without)
