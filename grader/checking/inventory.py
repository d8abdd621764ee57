"""What checks each question has, found by collecting them (never running them) with the grader's plugin: the
counts and points the student bundle's README, the GitHub Classroom workflow and the local check report."""

from __future__ import annotations

import ast
import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

from grader import registry
from grader.checking.command import pytest_args


class _Collector:
    def __init__(self):
        self.items = []

    def pytest_collection_finish(self, session):
        self.items = list(session.items)


def collect(paths: list[Path]) -> list:
    """The pytest items of the checks in ``paths``, collected (never run) in this process with the grader's plugin."""
    import pytest

    collector = _Collector()
    with contextlib.redirect_stdout(io.StringIO()) as out:
        status = pytest.main([*pytest_args(paths), "--collect-only"], plugins=[collector])
    if status != 0:
        raise RuntimeError(f"collecting {', '.join(map(str, paths))} failed (pytest status {status}):\n"
                           f"{out.getvalue()[-2000:]}")
    return collector.items


@dataclass
class Summary:
    label: str                   # "q4"
    stem: str
    title: str = ""
    checks: int = 0              # visible checks, parametrized cases one by one
    points: float = 0.0          # of the visible checks
    training: int = 0            # visible checks that train (run only with FULL=1)
    training_points: float = 0.0
    hidden: int = 0
    hidden_about: str = ""       # the first line of the hidden checks' docstring

    @property
    def heading(self) -> str:
        return registry.heading(self.label)


def summaries(root: Path | None = None) -> list[Summary]:
    """Per question: the visible checks and their points (as the plugin shares them), and the hidden checks."""
    from grader.checking.plugin import POINTS

    known = registry.questions(root)
    items = collect([path for q in known for path in q.check_files()])
    out = []
    for known_q in known:
        q = Summary(known_q.label, known_q.stem, known_q.title)
        for item in items:
            if getattr(registry.of_module(item.module.__name__), "stem", None) != known_q.stem:
                continue
            marker = item.get_closest_marker("check").kwargs
            if marker.get("hidden"):
                q.hidden += 1
                continue
            q.checks += 1
            q.points += item.stash[POINTS]
            if marker.get("training"):
                q.training += 1
                q.training_points += item.stash[POINTS]
        if known_q.hidden_checks.is_file():
            doc = ast.get_docstring(ast.parse(known_q.hidden_checks.read_text(encoding="utf-8")))
            q.hidden_about = doc.splitlines()[0] if doc else ""
        out.append(q)
    return out
