"""Build the student bundle: what ``make release`` runs.

    python -m grader.shipping.release [--out dist/student-bundle.zip]

The zip unpacks into a folder (or a GitHub Classroom template repository) where ``make setup`` then ``make check``
work on a fresh machine. It holds:

- ``assignments/``: the stubs and notebooks, generated from ``solutions/`` as ``make assignments`` does;
- ``nnkit/``: the dataset loader, the gradient check, the atomic writes, and ``check()`` and ``submit()`` for the
  notebooks (not the stub generator);
- ``grader/``: what runs the visible checks (``STUDENT_KIT``: the registry, the running, checking and intake
  subpackages, the local check);
- ``questions/``: every question folder without its ``hidden/`` folder, plus ``questions/<stem>/expected.npz``, the
  values the visible checks read in place of the reference code (see :class:`grader.checking.checklib.Expected`),
  and ``questions/hidden_counts.json``, the number of hidden checks per question;
- ``README.md``, ``Makefile`` and ``pyproject.toml`` from the templates in ``release/``, ``.gitignore``,
  ``requirements.lock``, ``scripts/system-packages.sh``, and ``.github/workflows/classroom.yml``, GitHub Classroom's
  autograding, generated from the questions by :mod:`grader.shipping.classroom`.

It holds no solution code and no hidden check, and the build refuses (:class:`BundleError`) a bundle that would: no
``solutions/``, nothing from a folder named ``hidden``, no solution marker, no secret seed, no line of a
solution region or of a reference answer or rubric, and no expression of a solution region (compared with names
anonymised, so ``np.outer(x, d1)`` matches ``np.outer(x, delta1)``) in any module or notebook cell. A bundled module
that imports a kit module the bundle lacks is refused too. The zip is byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import copy
import importlib
import io
import json
import os
import re
import string
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from grader import registry
from grader.checking.checklib import EXPECTED_FILE, PUBLISHED_INPUTS_ENV, Expected
from grader.checking.inventory import Summary, summaries
from grader.files import write_zip, zip_bytes
from grader.shipping import classroom
from nnkit import __version__, stubgen

REPO = registry.REPO
OUT = REPO / "dist" / "student-bundle.zip"

# (path in the repository, path in the zip)
COPIED = [
    ("requirements.lock", "requirements.lock"),
    ("scripts/system-packages.sh", "scripts/system-packages.sh"),
    ("release/Makefile", "Makefile"),
    ("release/gitignore", ".gitignore"),
]
# The generic kit a student's `make check` runs on: whole subpackages and single modules of grader/ and nnkit/.
STUDENT_KIT = ("grader/__init__.py", "grader/registry.py", "grader/files.py", "grader/running/", "grader/checking/",
               "grader/intake/", "grader/reporting/__init__.py", "grader/reporting/plots.py",
               "grader/shipping/__init__.py", "grader/shipping/local.py", "grader/shipping/cli.py",
               "nnkit/__init__.py", "nnkit/data.py", "nnkit/gradcheck.py", "nnkit/files.py", "nnkit/cells.py",
               "nnkit/check.py", "nnkit/submit.py", "nnkit/templates/")
KIT_SUFFIXES = (".py", ".ini", ".toml", ".html")
EXECUTABLE = {"scripts/system-packages.sh"}
FORBIDDEN_PATHS = re.compile(r"^solutions/|(^|/)hidden/|^nnkit/stubgen\.py$")


def instructor_only(module: str) -> bool:
    """A kit module the bundle lacks by design, imported only where present: anything in a ``hidden`` package
    (the reference modules are found by name, not imported)."""
    return registry.HIDDEN in module.split(".")


def kit_files(repo: Path = REPO) -> list[str]:
    """The repository paths of the generic kit and of every question folder, hidden folders left out."""
    paths = []
    for entry in STUDENT_KIT:
        found = sorted((repo / entry).rglob("*")) if entry.endswith("/") else [repo / entry]
        paths += [p.relative_to(repo).as_posix() for p in found
                  if p.is_file() and p.suffix in KIT_SUFFIXES and "__pycache__" not in p.parts]
    paths.append("questions/__init__.py")
    for q in registry.questions(repo / "questions"):
        for p in sorted(q.folder.rglob("*")):
            rel = p.relative_to(repo).as_posix()
            if (p.is_file() and p.suffix in KIT_SUFFIXES and "__pycache__" not in p.parts
                    and not registry.is_hidden_path(rel)):
                paths.append(rel)
    return paths


class BundleError(RuntimeError):
    """The bundle would be incomplete or would carry something students must not see."""


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz (a zip of .npy files) with fixed timestamps, so the bundle is reproducible."""
    def npy(array) -> bytes:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.asarray(array, order="C"), allow_pickle=False)
        return buffer.getvalue()
    return zip_bytes({f"{name}.npy": npy(arrays[name]) for name in arrays})


def expected_values() -> dict[str, bytes]:
    """``questions/<stem>/expected.npz`` for every question whose visible checks declare ``EXPECTED``, computed for
    the checks' published inputs: in a fresh interpreter with ``NNKIT_PUBLISHED_INPUTS=1``, because at grading time
    (and in this process, if it imported the checks) the visible inputs are drawn from the run's secret."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, PUBLISHED_INPUTS_ENV: "1"}
        subprocess.run([sys.executable, "-c", f"from grader.shipping.release import write_expected_values as w; "
                        f"w({tmp!r})"], env=env, check=True, cwd=REPO)
        return {path.relative_to(tmp).as_posix(): path.read_bytes() for path in sorted(Path(tmp).rglob("*.npz"))}


def write_expected_values(folder: str) -> None:
    """Write ``questions/<stem>/expected.npz`` under ``folder`` (run by :func:`expected_values`)."""
    for q in registry.questions():
        module = importlib.import_module(f"{q.package}.checks")
        expected = getattr(module, "EXPECTED", None)
        if isinstance(expected, Expected):
            target = Path(folder) / "questions" / q.stem / EXPECTED_FILE
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_npz(expected.compute_all()))





def questions(repo: Path = REPO) -> list[Summary]:
    """Per question: the visible checks and their points, and the hidden checks (:mod:`grader.checking.inventory`)."""
    return summaries(repo / "questions")


def _points(x: float) -> str:
    return f"{x:g}"


def readme(qs: list[Summary], repo: Path = REPO) -> str:
    """The bundle's README.md: ``release/README.md`` with the questions filled in."""
    rows = [f"| {q.heading} | `{q.stem}` | {q.checks} | {_points(q.points)}"
            f"{f' ({_points(q.training_points)} from training)' if q.training_points else ''} | {q.hidden} |"
            for q in qs]
    about = [f"- {q.heading}: {q.hidden_about.rstrip('.')}." for q in qs if q.hidden_about]
    training = [q.heading for q in qs if q.training]
    template = string.Template((repo / "release" / "README.md").read_text(encoding="utf-8"))
    return template.substitute(
        intro="\n".join(f"- {q.heading}: {q.title} (`{q.stem}`)" for q in qs),
        first_stem=qs[0].stem, first_label=qs[0].label, labels=", ".join(q.label for q in qs),
        training=f"the training checks of {', '.join(training)}" if training else "there are none",
        questions="\n".join(rows), hidden_about="\n".join(about) or "- (none)")


def contents(repo: Path = REPO) -> dict[str, bytes]:
    """Every file of the bundle: name in the zip -> bytes (nothing is written)."""
    files = {name: (repo / src).read_bytes() for src, name in COPIED}
    files.update({name: (repo / name).read_bytes() for name in kit_files(repo)})
    pyproject = string.Template((repo / "release" / "pyproject.toml").read_text())
    files["pyproject.toml"] = pyproject.substitute(version=__version__).encode()
    stubs = stubgen.generate_all(repo / "solutions", repo / "assignments")
    files.update({path.relative_to(repo).as_posix(): text.encode() for path, text in stubs.items()})
    files.update(expected_values())
    qs = questions(repo)
    files["questions/hidden_counts.json"] = (json.dumps({q.stem: q.hidden for q in qs}, indent=1) + "\n").encode()
    files["README.md"] = readme(qs, repo).encode()
    files[classroom.IN_BUNDLE] = classroom.workflow(qs).encode()
    return dict(sorted(files.items()))


def stale_assignments(repo: Path = REPO) -> list[str]:
    """The committed stubs that differ from what ``solutions/`` generates (the bundle ships the generated ones)."""
    stubs = stubgen.generate_all(repo / "solutions", repo / "assignments")
    return [path.relative_to(repo).as_posix() for path, text in stubs.items()
            if not path.is_file() or path.read_text(encoding="utf-8") != text]


def missing_imports(files: dict[str, bytes]) -> list[str]:
    """``name: module`` for each kit module (grader.*, nnkit.*) a bundled module imports but the bundle lacks."""
    modules = {name.removesuffix(".py").removesuffix("/__init__").replace("/", "."): name
               for name in files if name.endswith(".py")}
    problems = []
    for name, data in files.items():
        if not name.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(data, name)):
            if isinstance(node, ast.Import):
                wanted = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                wanted = [node.module]
                if modules.get(node.module, "").endswith("__init__.py"):  # from a package: modules or its names
                    defined = _top_level_names(files[modules[node.module]])
                    wanted += [f"{node.module}.{a.name}" for a in node.names if a.name not in defined]
            else:
                continue
            problems += [f"{name}: {module}" for module in wanted
                         if module.split(".")[0] in ("grader", "nnkit") and module not in modules
                         and not instructor_only(module)]
    return problems


def _top_level_names(source: bytes) -> set[str]:
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


# What a solution region looks like, for finding it again. Names are anonymised except these, so renaming the
# variables of a copied statement does not hide it.
KEPT_NAMES = frozenset(dir(builtins)) | {"np", "numpy", "sp", "sympy", "keras", "tf", "math"}
LINEAR_ALGEBRA = {"outer", "dot", "matmul", "diag", "einsum", "tensordot", "inner"}
MIN_NODES = 5    # `np.outer(x, d1)`; smaller arithmetic (`x - 1`) is too common to mean anything
MIN_LINE = 20    # characters, after collapsing whitespace


class _Anonymise(ast.NodeTransformer):
    def visit_Name(self, node):
        return ast.Name(id=node.id if node.id in KEPT_NAMES else "_", ctx=ast.Load())

    def visit_arg(self, node):
        return ast.arg(arg="_")


def _off_by_one(node: ast.BinOp) -> bool:
    """``n + 1``, ``i - 1``: counting, as in ``range(1, epochs + 1)``, not a computation of a solution."""
    return (isinstance(node.op, (ast.Add, ast.Sub)) and isinstance(node.right, ast.Constant)
            and type(node.right.value) is int and abs(node.right.value) <= 1)


def _computes(node: ast.expr) -> bool:
    """Arithmetic or linear algebra somewhere inside: what solution code is made of (plumbing like
    ``np.all(np.isfinite(x))``, ``s[-1]`` or ``range(1, n + 1)`` is not)."""
    return any((isinstance(n, ast.BinOp) and not _off_by_one(n))
               or (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in LINEAR_ALGEBRA)
               for n in ast.walk(node))


def expressions(code: str, ipython: bool = False) -> dict[str, str]:
    """Anonymised dump -> source of every computing expression of at least MIN_NODES nodes in ``code`` ({} if it
    does not parse, even as a function body). ``ipython``: a notebook cell, whose magics are turned into Python."""
    if ipython:
        from IPython.core.inputtransformer2 import TransformerManager

        code = TransformerManager().transform_cell(code)
    code = textwrap.dedent(code)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        try:
            tree = ast.parse("def _():\n" + textwrap.indent(code, "    ") + "\n    pass\n")
        except SyntaxError:
            return {}
    found = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.expr) and _computes(node)
                and sum(not isinstance(n, ast.expr_context) for n in ast.walk(node)) >= MIN_NODES):
            found[ast.dump(_Anonymise().visit(copy.deepcopy(node)))] = ast.unparse(node)
    return found


def _norm(line: str) -> str:
    return " ".join(line.split())


def _regions(text: str, begin: re.Pattern, end: re.Pattern) -> list[str]:
    """The text of each region between a ``begin`` line and an ``end`` line (stubgen rejects malformed ones)."""
    regions, current = [], None
    for line in text.splitlines():
        if begin.match(line):
            current = []
        elif end.match(line) and current is not None:
            regions.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return regions


@dataclass
class Fingerprints:
    """What of the solutions must not reach students: lines (code, answers, rubrics) and code expressions."""
    lines: dict[str, str] = field(default_factory=dict)          # normalised line -> where it comes from
    expressions: dict[str, str] = field(default_factory=dict)    # anonymised dump -> its source
    secrets: list[str] = field(default_factory=list)             # literal spellings of the secret seed


def fingerprints(repo: Path = REPO) -> Fingerprints:
    """The solution regions of ``solutions/`` (code, written answers) and its rubric cells, less whatever the
    generated stubs give students anyway (the handout's provided code, the questions' text)."""
    code_regions, prose_regions = [], []
    for path in sorted((repo / "solutions").glob("*.py")):
        regions = _regions(path.read_text(encoding="utf-8"), stubgen.BEGIN, stubgen.END)
        code_regions += [(path.name, r, False) for r in regions]
    for path in sorted((repo / "solutions").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                regions = _regions(cell.source, stubgen.BEGIN, stubgen.END)
                code_regions += [(path.name, r, True) for r in regions]
            elif stubgen.tagged_id(cell, stubgen.RUBRIC_TAG):
                prose_regions.append((path.name, cell.source))
            else:
                regions = _regions(cell.source, stubgen.MD_BEGIN, stubgen.MD_END)
                prose_regions += [(path.name, r) for r in regions]
    given_lines, given_expressions = set(), {}
    for path, text in stubgen.generate_all(repo / "solutions", repo / "assignments").items():
        lines, code = _texts(path.name, text.encode())
        given_lines.update(_norm(line) for line in lines)
        for block in code:
            given_expressions.update(expressions(block, ipython=path.suffix == ".ipynb"))
    fp = Fingerprints()
    for source, region, *_ in code_regions + prose_regions:
        for line in region.splitlines():
            if len(_norm(line)) >= MIN_LINE and _norm(line) not in given_lines:
                fp.lines.setdefault(_norm(line), source)
    for source, region, ipython in code_regions:
        for dump, text in expressions(region, ipython).items():
            if dump not in given_expressions:
                fp.expressions.setdefault(dump, f"{source}: {text}")
    secret = repo / "grader" / registry.HIDDEN / "secret.py"
    if secret.is_file():
        text = secret.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                value = node.value.value
                spellings = [ast.get_source_segment(text, node.value), str(value)]
                spellings += [hex(value), f"{value:X}", f"{value:_}", f"{value:_X}"] if isinstance(value, int) else []
                fp.secrets += [s for s in spellings if len(s) >= 6]  # a short one would match anything
    return fp


def _texts(name: str, data: bytes) -> tuple[list[str], list[str]]:
    """(the file's text lines, its code blocks): a notebook's cell sources, a module's whole text."""
    if name.endswith(".npz"):
        return [], []
    text = data.decode("utf-8")
    if name.endswith(".ipynb"):
        cells = nbformat.reads(text, as_version=4).cells
        return [line for c in cells for line in c.source.splitlines()], [c.source for c in cells
                                                                         if c.cell_type == "code"]
    return text.splitlines(), [text] if name.endswith(".py") else []


def solution_leaks(files: dict[str, bytes], fp: Fingerprints | None = None) -> list[str]:
    """Everything in ``files`` (name -> bytes) that gives a solution away, one message each; [] when clean."""
    fp = fp or fingerprints()
    leaks = [f"{name}: not for students" for name in files if FORBIDDEN_PATHS.search(name)]
    for name, data in files.items():
        if name.endswith(".npz"):
            continue
        raw = data.decode("utf-8")
        if stubgen.ANY_MARKER.search(raw):
            leaks.append(f"{name}: contains a solution marker")
        leaks += [f"{name}: contains the secret seed {s}" for s in fp.secrets if s and s in raw]
        lines, code = _texts(name, data)
        for i, line in enumerate(lines, start=1):
            if _norm(line) in fp.lines:
                leaks.append(f"{name}: line {i} is from a solution region of {fp.lines[_norm(line)]}: "
                             f"{line.strip()[:80]}")
        for block in code:
            for dump, text in expressions(block, ipython=name.endswith(".ipynb")).items():
                if dump in fp.expressions:
                    leaks.append(f"{name}: `{text[:80]}` computes what {fp.expressions[dump][:100]} does")
    return leaks


def build(out: Path = OUT, repo: Path = REPO) -> list[str]:
    """Write the bundle to ``out`` (atomically, reproducibly) after checking it; return the names in it."""
    files = contents(repo)
    problems = [f"imports a module the bundle lacks: {p}" for p in missing_imports(files)]
    problems += solution_leaks(files, fingerprints(repo))
    if problems:
        raise BundleError("refusing to build the student bundle:\n  " + "\n  ".join(problems))
    write_zip(Path(out), files, EXECUTABLE)
    return list(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"the zip to write (default {OUT.relative_to(REPO)})")
    opts = parser.parse_args(argv)
    try:
        names = build(opts.out)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {opts.out} ({len(names)} files)")
    for name in stale_assignments():
        print(f"note: {name} is out of date; the bundle has the stub generated from solutions/ "
              f"(run `make assignments` to update the committed one)", file=sys.stderr)
    with zipfile.ZipFile(opts.out) as zf:
        workflow = zf.read(classroom.IN_BUNDLE)
    if not classroom.COMMITTED.is_file() or classroom.COMMITTED.read_bytes() != workflow:
        print(f"note: {classroom.COMMITTED.relative_to(REPO)} is out of date; the bundle has the workflow generated "
              f"from the questions (run `{classroom.REGENERATE}` to update the committed one)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
