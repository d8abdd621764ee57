"""The registry: every question folder is complete, a folder that lacks a part is reported, and the generic code
never names a question."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
from conftest import ROOT

from grader import registry
from grader.checking.inventory import collect


def test_every_question_folder_is_complete():
    assert registry.questions(), "no questions found under questions/"
    assert registry.problems() == []


def test_labels_are_one_form_and_in_order():
    qs = registry.questions()
    assert [q.number for q in qs] == sorted(q.number for q in qs)
    for q in qs:
        assert q.label == f"q{q.number}" and q.heading == f"Q{q.number}"
        assert all(part.startswith(q.label) for part in q.parts)


def test_each_question_has_a_visible_and_a_hidden_check():
    for q in registry.questions():
        items = collect(q.check_files())
        hidden = [i for i in items if i.get_closest_marker("check").kwargs.get("hidden")]
        assert len(hidden) >= 1, f"{q.stem}: no hidden check"
        assert len(items) > len(hidden), f"{q.stem}: no visible check"
        assert {registry.of_module(i.module.__name__).stem for i in items} == {q.stem}


@pytest.fixture
def course(tmp_path) -> tuple[Path, Path]:
    shutil.copytree(ROOT / "questions", tmp_path / "questions", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "questions", tmp_path / "solutions"


@pytest.mark.parametrize("missing, expected", [
    ("questions/q2_softmax_jacobian/checks.py", "questions/q2_softmax_jacobian lacks a visible check (checks.py)"),
    ("questions/q3_fashion_mnist/hidden/checks.py",
     "questions/q3_fashion_mnist lacks a hidden check (hidden/checks.py)"),
    ("solutions/q4_numpy_backprop.py",
     "questions/q4_numpy_backprop lacks a reference solution (solutions/q4_numpy_backprop.py)"),
    ("solutions/q1_expressivity.ipynb",
     "questions/q1_expressivity lacks a notebook (solutions/q1_expressivity.ipynb)"),
])
def test_a_folder_that_lacks_a_part_is_reported(course, missing, expected):
    questions, solutions = course
    (questions.parent / missing).unlink()
    assert registry.problems(questions, solutions) == [expected]


def test_a_folder_without_question_toml_is_an_error(course):
    questions, _ = course
    (questions / "q2_softmax_jacobian" / "question.toml").unlink()
    with pytest.raises(registry.RegistryError, match="question.toml is missing"):
        registry.questions(questions)


@pytest.mark.parametrize("toml, message", [
    ('label = "4"\ntitle = "x"\n', "label must look like q<number>"),
    ('label = "q9"\ntitle = "x"\ncolour = 1\n', "unknown keys"),
    ('label = "q9"\ntitle = "x"\n[parts]\nq8a = "y"\n', "must be q9 or q9 followed by one letter"),
    ('label = "q1"\ntitle = "x"\n', "both have label q1"),
])
def test_bad_metadata_is_reported(course, toml, message):
    questions, _ = course
    (questions / "q2_softmax_jacobian" / "question.toml").write_text(toml)
    with pytest.raises(registry.RegistryError, match=message):
        registry.questions(questions)


def test_lookup_accepts_every_spelling():
    assert registry.lookup("q2").stem == registry.lookup("Q2").stem == registry.lookup("2").stem \
        == registry.lookup("q2_softmax_jacobian").stem == "q2_softmax_jacobian"
    with pytest.raises(KeyError):
        registry.lookup("q99")


def _code_strings(path: Path) -> list[str]:
    """String constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
            and isinstance(node.value, str) and id(node) not in docstrings]


def test_generic_code_never_names_a_question():
    """Only the question folders (and solutions/) know the questions; grader/ and nnkit/ ask the registry."""
    stems = registry.stems()
    offenders = []
    for path in sorted([*(ROOT / "grader").rglob("*.py"), *(ROOT / "nnkit").rglob("*.py")]):
        for text in _code_strings(path):
            offenders += [f"{path.relative_to(ROOT)}: {text[:60]!r}" for stem in stems if stem in text]
    assert not offenders, "\n".join(offenders)
