"""The stub generator: marker handling, and the committed stubs match the solutions."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from grader import registry
from nnkit.stubgen import MarkerError, generate, strip_solutions

STEMS = registry.stems()

ROOT = Path(__file__).resolve().parents[1]


def test_region_in_function_becomes_raise():
    src = 'def f(x):\n    """Doc."""\n    # BEGIN SOLUTION\n    return x + 1\n    # END SOLUTION\n'
    assert strip_solutions(src) == 'def f(x):\n    """Doc."""\n    raise NotImplementedError\n'


def test_module_level_region_is_removed():
    src = "import os\n# BEGIN SOLUTION\ndef _helper():\n    return 1\n# END SOLUTION\nX = 1\n"
    assert strip_solutions(src) == "import os\nX = 1\n"


@pytest.mark.parametrize("src, message", [
    ("def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION\n", "nested"),
    ("def f():\n    # BEGIN SOLUTION\n    return 1\n", "never closed"),
    ("def f():\n    return 1\n    # END SOLUTION\n", "without a BEGIN"),
    ("def f():\n    # BEGIN SOLUTION\n    return 1\n# END SOLUTION\n", "indented differently"),
    ("def f():\n    # BEGIN SOLUTIONS please\n    return 1\n", "malformed"),
])
def test_malformed_markers_are_errors(src, message):
    with pytest.raises(MarkerError, match=message):
        strip_solutions(src, "x.py")


def test_committed_stubs_are_up_to_date():
    stubs = generate(ROOT / "solutions", ROOT / "assignments")
    for path, text in stubs.items():
        assert path.exists(), f"{path} is missing: run `make assignments`"
        assert path.read_text(encoding="utf-8") == text, f"{path} differs from its solution: run `make assignments`"


@pytest.mark.parametrize("stem", STEMS)
def test_stub_has_header_and_no_solution(stem):
    stub = (ROOT / "assignments" / f"{stem}.py").read_text(encoding="utf-8")
    solution = (ROOT / "solutions" / f"{stem}.py").read_text(encoding="utf-8")
    assert stub.splitlines()[0].startswith(f"# {stem}.py: your file to edit;")
    assert "solutions" not in stub, "students have no solutions/ folder"
    assert "SOLUTION" not in stub
    # every line inside a solution region is gone from the stub (blank and trivial lines aside)
    inside, region = False, []
    for line in solution.splitlines():
        if "# BEGIN SOLUTION" in line:
            inside = True
        elif "# END SOLUTION" in line:
            inside = False
        elif inside and len(line.strip()) > 12:
            region.append(line.strip())
    stub_lines = {line.strip() for line in stub.splitlines()}
    outside = set()
    inside = False
    for line in solution.splitlines():  # provided code may legitimately repeat a line of a solution
        if "# BEGIN SOLUTION" in line:
            inside = True
        elif "# END SOLUTION" in line:
            inside = False
        elif not inside:
            outside.add(line.strip())
    leaked = [line for line in region if line in stub_lines and line not in outside]
    assert not leaked, f"solution lines survive in the stub: {leaked[:3]}"


@pytest.mark.parametrize("stem", STEMS)
def test_stub_docstrings_match_solution(stem):
    def docs(path):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        return {n.name: ast.get_docstring(n) for n in ast.walk(tree)
                if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(n)}
    stub_docs = docs(ROOT / "assignments" / f"{stem}.py")
    sol_docs = docs(ROOT / "solutions" / f"{stem}.py")
    for name, doc in stub_docs.items():
        assert sol_docs.get(name) == doc


@pytest.mark.parametrize("stem", STEMS)
def test_stub_imports_and_raises(stem, tmp_path):
    code = (f"import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('{stem}', r'{ROOT / 'assignments' / (stem + '.py')}')\n"
            f"m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
            f"print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_check_mode_reports_drift(tmp_path):
    out = subprocess.run([sys.executable, "-m", "nnkit.stubgen", str(ROOT / "solutions"), str(tmp_path), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "out of date" in out.stderr
