"""What a check says to a student: one text, within a stated length, the hint always whole.

Every student-facing output (results.json, feedback.md and .html, `make check`) is the text
:func:`fit` makes of a check's message, so they all say the same thing. A message reads in a fixed order: what was
checked and expected, what came back, optional lines starting ``Detail:`` (shown only where the question's ``hints``
level is ``"full"``), then a line starting ``Hint:`` (left out where it is ``"none"``). When a message is too long (a student's long
traceback, many failing entries), the middle of what came back is left out, never the first line or the hint.
"""

from __future__ import annotations

import os
import re

import numpy as np

from grader import registry

MESSAGE_CHARS = 2000   # a check's whole output, hint included
HINT_CHARS = 800       # the kit's own hints are far shorter; a student's text after "Hint:" is cut here
HINT = "\nHint: "

# what pytest or Python would show and a student should never see (test_messages.py checks every recorded output)
MACHINERY = {
    "pytest's assertion rewriting": re.compile(r"(^|\n)\s*(assert |\+\s+where |E\s+)"),
    "an object's memory address": re.compile(r"\b0x[0-9a-fA-F]{6,}\b"),
    "a function's repr": re.compile(r"<(function|bound method|built-in function) "),
    "a raw numpy repr": re.compile(r"array\(\[|\[\[\s*-?\d+\.\d*(e[-+]?\d+)?\s+-?\d"),
}


def fit(text: str, limit: int = MESSAGE_CHARS) -> str:
    """``text`` within ``limit`` characters: the first line and the hint kept whole, the middle cut if need be."""
    if len(text) <= limit:
        return text
    body, sep, hint = text.rpartition(HINT)
    if not sep:
        body, hint = text, ""
    hint = (HINT + hint[:HINT_CHARS]) if sep else ""
    first, newline, rest = body.partition("\n")
    room = limit - len(hint) - len(first) - 60
    if room <= 0:  # a first line longer than the budget: keep its start
        return body[:max(limit - len(hint) - 30, 40)] + " [...]" + hint
    cut = len(rest) - room
    if cut <= 0:
        return body + hint
    head, tail = rest[:room * 2 // 3], rest[len(rest) - room // 3:]
    return f"{first}{newline}{head}\n[... {cut:,} characters left out ...]\n{tail}{hint}"


DETAIL = "Detail: "


def at_level(text: str, level: str) -> str:
    """``text`` as the question's hint level has it (``hints`` in question.toml): ``"none"`` drops the hint and the
    detail lines, ``"hint"`` (the default) drops the detail lines, ``"full"`` keeps everything."""
    lines = text.split("\n")
    if level != "full":
        lines = [line for line in lines if not line.startswith(DETAIL)]
    text = "\n".join(lines)
    if level == "none":
        text = text.split(HINT, 1)[0]
    return text


HINTS_ENV = "NNKIT_HINTS"


def hint_level(question) -> str:
    """The question's hint level: ``NNKIT_HINTS`` (``q2=none,q4=full``, set by the instructor for a run) over
    ``hints`` in its question.toml."""
    for item in os.environ.get(HINTS_ENV, "").split(","):
        label, _, level = item.strip().partition("=")
        if label in (question.label, question.stem) and level in registry.HINT_LEVELS:
            return level
    return question.hints


def machinery(text: str) -> list[str]:
    """The kinds of pytest or Python internals ``text`` shows (empty when it reads as written for a student)."""
    return [name for name, pattern in MACHINERY.items() if pattern.search(text)]


def describe_value(value, depth: int = 0) -> str:
    """A short description of an argument or returned value for a message: arrays by dtype, shape and a few
    statistics, lists by their items (at most four, two levels deep), numbers in 6 significant digits."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return describe_value(value.item(), depth)
        if value.size and np.issubdtype(value.dtype, np.number):
            finite = value[np.isfinite(value)] if np.issubdtype(value.dtype, np.floating) else value
            stats = (f", values {float(finite.min()):.3g} to {float(finite.max()):.3g}" if finite.size else
                     ", no finite value")
        else:
            stats = ""
        return f"<{value.dtype} array {value.shape}{stats}>"
    if isinstance(value, (bool, np.bool_)) or value is None:
        return repr(value)
    if isinstance(value, (int, np.integer)):
        text = str(int(value))
        return text if len(text) <= 20 else f"<an integer of {len(text)} digits>"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37] + "...")
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, np.ndarray) and v.ndim for v in value) and len({v.dtype for v in value}) == 1:
            shapes = ", ".join(str(v.shape) for v in value)  # a list of weight arrays: their shapes say enough
            return f"[{len(value)} {value[0].dtype} arrays {shapes}]"
        if depth >= 2 or len(value) > 4:
            return f"<{type(value).__name__} of {len(value)}>"
        inner = ", ".join(describe_value(v, depth + 1) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    if isinstance(value, dict):
        return f"<dict with keys {', '.join(map(str, list(value)[:6]))}{', ...' if len(value) > 6 else ''}>"
    return f"<{type(value).__name__}>"
