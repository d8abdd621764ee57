"""What the generator and the bundle give students for their path: stubs that speak to them, notebooks with a setup
cell (Colab install, autoreload) and a check cell per part, and a bundle with check() and submit() in it."""

from __future__ import annotations

import nbformat
import pytest
from conftest import ROOT

from grader import registry
from grader.shipping import release
from nnkit import stubgen

STEMS = registry.stems()
GENERATED = stubgen.generate_all(ROOT / "solutions", ROOT / "assignments")


@pytest.mark.parametrize("stem", STEMS)
def test_stub_is_the_students_file_and_never_names_solutions(stem):
    stub = GENERATED[ROOT / "assignments" / f"{stem}.py"]
    assert stub.startswith(f"# {stem}.py: your file to edit;")
    assert "solutions" not in stub and "do not edit" not in stub
    nb = GENERATED[ROOT / "assignments" / f"{stem}.ipynb"]
    assert "solutions" not in nb and "do not edit" not in nb


def test_run_commands_become_the_students_own():
    text = stubgen.for_students("Run ``python -m solutions.q9_x --out p`` to plot.", "solutions", "w")
    assert text == "Run ``python q9_x.py --out p`` to plot."
    with pytest.raises(stubgen.MarkerError, match="line 2 names solutions/"):
        stubgen.for_students("ok\nsee solutions/q9_x.py\n", "solutions", "where")


@pytest.mark.parametrize("stem", STEMS)
def test_notebook_has_the_setup_cell_and_ends_each_part_with_a_check(stem):
    """The first code cell installs the bundle only under Colab and turns autoreload on; each part with visible
    checks ends with check("<part>"), the notebook with check("<question>") and the submit instructions."""
    q = registry.by_stem(stem)
    nb = nbformat.reads(GENERATED[ROOT / "assignments" / f"{stem}.ipynb"], as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata["tags"] == [stubgen.SETUP_TAG]
    assert 'if "google.colab" in sys.modules:' in code[0].source and '"autoreload", "2"' in code[0].source
    checks = [c.source.splitlines()[-1] for c in code if stubgen.CHECK_TAG in c.metadata.get("tags", [])]
    parts = sorted(stubgen.checked_parts(q) - {q.label}) if len(q.parts) > 1 else []
    assert checks == [f'check("{p}")' for p in parts] + [f'check("{q.label}")']
    assert nb.cells[-1].source.startswith("## Submit")


def test_part_checks_sit_before_the_next_part():
    """Q1's check of part (a) comes after (a)'s code and before the heading of (b)."""
    q = registry.questions()[0]
    nb = nbformat.reads(GENERATED[ROOT / "assignments" / f"{q.stem}.ipynb"], as_version=4)
    sources = [c.source for c in nb.cells]
    first = next(i for i, s in enumerate(sources) if s.endswith(f'check("{q.label}a")'))
    assert sources[first + 1].startswith("## ") and f"answer:{q.label}b" in nb.cells[first + 2].metadata["tags"]


def test_bundle_ships_check_and_submit():
    names = set(release.kit_files())
    assert {"nnkit/check.py", "nnkit/submit.py", "nnkit/cells.py", "nnkit/templates/check.html"} <= names
    assert "nnkit/stubgen.py" not in names


def test_leak_scan_ignores_counting_but_not_arithmetic():
    """``range(1, epochs + 1)`` is counting; ``y * (1 - y)`` is what a solution computes."""
    assert release.expressions("for epoch in range(1, epochs + 1):\n    pass\n") == {}
    assert release.expressions("d = y * (1 - y) + np.outer(a, b)\n")
