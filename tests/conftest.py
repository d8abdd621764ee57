"""Fixtures shared by the kit's tests: grading one module or a whole directory the way `make grade` does."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from grader import registry
from grader.checking.command import checks_command
from grader.checking.messages import machinery

ROOT = Path(__file__).resolve().parents[1]
# adversarial submissions, graded by test_adversarial.py; never collected (one holds a conftest.py, one a numpy.py)
collect_ignore = ["adversarial"]


def solution_source(stem: str) -> str:
    return (ROOT / "solutions" / f"{stem}.py").read_text(encoding="utf-8")


def mutate(source: str, old: str, new: str, count: int = 1) -> str:
    """Replace ``old`` by ``new`` exactly ``count`` times, failing loudly if the reference changed under us."""
    found = source.count(old)
    assert found == count, f"expected {count} occurrence(s) of {old!r} in the reference, found {found}"
    return source.replace(old, new)


def run_checks(submission: Path, stems, tmp: Path, training: bool = False, hidden: bool = True) -> dict:
    """Run the graded checks of ``stems`` on a submission directory; return {test name: record}."""
    record = tmp / "record.json"
    cmd = checks_command([registry.by_stem(stem) for stem in stems], submission, record, hidden=hidden,
                         training=training)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(record.read_text())
    out = {}
    for check in data["checks"]:
        name = check["nodeid"].split("::")[-1]
        assert name not in out
        out[name] = check
        assert not check["internal_error"], f"{name}: {check['output']}"
        assert not machinery(check["output"]), f"{name} shows {machinery(check['output'])}: {check['output']}"
    return out


@pytest.fixture
def grade_source(tmp_path):
    """grade_source(stem, source, **kw) -> {check name: record}, grading a submission holding just that module."""
    counter = [0]

    def grade(stem: str, source: str | bytes, **kw) -> dict:
        counter[0] += 1
        sub = tmp_path / f"sub{counter[0]}"
        sub.mkdir()
        path = sub / f"{stem}.py"
        if isinstance(source, bytes):
            path.write_bytes(source)
        else:
            path.write_text(source, encoding="utf-8")
        work = tmp_path / f"work{counter[0]}"
        work.mkdir()
        return run_checks(sub, [stem], work, **kw)
    return grade


def failed(results: dict) -> set[str]:
    return {name for name, r in results.items() if r["status"] == "failed"}


def pytest_configure(config):
    # the graded checks' marker, for tests that import a check module and call a check directly
    config.addinivalue_line("markers", "check(points, hidden=False, training=False, part=None): a graded check")


# The longest test files (minutes each, measured with --durations), collected first: make test's pytest-xdist
# processes take whole files in collection order, so these start at once instead of ending the run.
LONGEST_FIRST = ("test_adversarial", "test_adversarial_landlock", "test_term", "test_examples", "test_checks_q4")


def pytest_collection_modifyitems(config, items):
    """The longest files first (``LONGEST_FIRST``, each file's tests kept in order). Tests marked ``lock`` ask the
    package index: they run only when ``-m`` names them (``make lock-check``)."""
    items.sort(key=lambda item: LONGEST_FIRST.index(item.path.stem) if item.path.stem in LONGEST_FIRST
               else len(LONGEST_FIRST))
    if "lock" in (config.option.markexpr or ""):
        return
    kept = [item for item in items if item.get_closest_marker("lock") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item.get_closest_marker("lock")])
        items[:] = kept
