"""How a notebook marks its written answers, shared by the stub generator, the grader and ``nnkit submit``: a
Markdown cell tagged ``answer:<id>`` holds the answer to ``<id>`` (``q1a``), and ``PLACEHOLDER`` until it is written."""

from __future__ import annotations

PLACEHOLDER = "_Write your answer here._"
ANSWER_TAG = "answer:"
RUBRIC_TAG = "rubric:"


def cell_tags(cell) -> list[str]:
    tags = cell.get("metadata", {}).get("tags", [])
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def tagged_id(cell, prefix: str) -> str | None:
    """The ``<id>`` of the cell's ``<prefix><id>`` tag (``answer:`` or ``rubric:``), or None."""
    ids = [t[len(prefix):] for t in cell_tags(cell) if t.startswith(prefix)]
    return ids[0] if ids else None
