"""Tolerant question-file names (grader.intake.names): the names course sites give files on re-upload or bulk
download are graded like the canonical name, the feedback says which file was taken, and two candidates for one
question cost that question only."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.intake import names
from grader.intake.submission import prepare

STEM = "q2_softmax_jacobian"
Q1 = "q1_expressivity"
CODE = "def softmax(z):\n    return z\n"


@pytest.mark.parametrize("name, expected", [
    (f"{STEM}.py", f"{STEM}.py"),
    (f"{STEM}.ipynb", f"{STEM}.ipynb"),
    (f"{STEM} (1).py", f"{STEM}.py"),
    (f"{STEM}(2).ipynb", f"{STEM}.ipynb"),
    (f"{STEM}-1.py", f"{STEM}.py"),
    (f"lastname_12345_67890_{STEM}.py", f"{STEM}.py"),
    (f"doejane_late_12345_67890_{STEM}-3.py", f"{STEM}.py"),
    (f"s1234567_{STEM}.ipynb", f"{STEM}.ipynb"),
    (f"test_{STEM}.py", None),
    (f"old_{STEM}.py", None),
    ("Q2_Softmax_Jacobian.py", None),
    (f"{STEM}_v2.py", None),
    (f"{STEM}.py.bak", None),
])
def test_canonical_names(name, expected):
    assert names.canonical(name) == expected


def _prepared(tmp_path: Path, files: dict[str, str], sid: str):
    folder = tmp_path / sid
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return prepare(folder, sid, tmp_path / "work" / sid)


@pytest.mark.parametrize("name", [f"{STEM} (1).py", f"{STEM}-1.py", f"lastname_12345_67890_{STEM}.py"])
def test_site_names_grade_like_the_canonical_name(tmp_path, name):
    canonical = _prepared(tmp_path, {f"{STEM}.py": CODE}, "canonical")
    renamed = _prepared(tmp_path, {name: CODE}, "renamed")
    assert renamed.sources[STEM] == "module"
    # the same digest means the same files reach the worker, hence the same checks and score
    assert renamed.digest == canonical.digest
    assert (renamed.root / f"{STEM}.py").read_text() == CODE
    assert f"took {name} as {STEM}.py" in renamed.notes[STEM]
    assert not any("took" in note for note in canonical.notes[STEM])


def test_two_candidates_cost_only_that_question(tmp_path):
    prepared = _prepared(tmp_path, {f"{STEM}.py": CODE, f"{STEM} (1).py": CODE + "# newer\n",
                                    f"{Q1}.py": "X = 1\n"}, "both")
    assert prepared.sources[STEM] == "unreadable"
    message = prepared.errors[STEM]
    assert f"2 files could be {STEM}.py" in message and f"{STEM} (1).py" in message and "graded none" in message
    assert prepared.sources[Q1] == "module" and Q1 not in prepared.errors
    assert not (prepared.root / f"{STEM}.py").exists()


def test_a_students_own_test_file_is_not_a_candidate(tmp_path):
    prepared = _prepared(tmp_path, {f"{STEM}.py": CODE, f"test_{STEM}.py": "def test_x():\n    pass\n"}, "tests")
    assert prepared.sources[STEM] == "module" and STEM not in prepared.errors
    assert (prepared.root / f"{STEM}.py").read_text() == CODE
