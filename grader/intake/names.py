"""Which question a submitted file name stands for, including the names course sites give files.

Besides the exact ``<stem>.py`` and ``<stem>.ipynb``, a file is taken for a question when its name is that one with
what a course site adds on re-upload or bulk download:

- a copy number: ``q2_softmax_jacobian (1).py``, ``q2_softmax_jacobian(2).py`` (browsers, Google Drive) or
  ``q2_softmax_jacobian-1.py`` (Canvas);
- a prefix that holds a digit, ending in ``_`` or ``-``: Canvas's ``lastname_12345_67890_q2_softmax_jacobian.py``
  or a student id ``s1234567_q2_softmax_jacobian.py``. A prefix without a digit (``test_``, ``old_``) is not taken,
  so a student's own ``test_q2_softmax_jacobian.py`` never competes with the real file.

The case of the stem must match; ``Q2_Softmax_Jacobian.py`` is still only a near miss the feedback points out.
"""

from __future__ import annotations

import re

from grader import registry

SUFFIXES = (".py", ".ipynb")
_COPY = r"(?: ?\(\d{1,3}\)|-\d{1,3})?"
_PREFIX = r"(?:[\w.-]*\d[\w.-]*[_-])?"


def _patterns() -> tuple[tuple[str, re.Pattern], ...]:
    return tuple((stem, re.compile(rf"{_PREFIX}{re.escape(stem)}{_COPY}(\.py|\.ipynb)", re.ASCII))
                 for stem in registry.stems())


def canonical(name: str) -> str | None:
    """The question file ``name`` (a base name) stands for, ``"<stem>.py"`` or ``"<stem>.ipynb"``, or None."""
    for stem, pattern in _patterns():
        if m := pattern.fullmatch(name):
            return stem + m.group(1)
    return None


def is_exact(name: str) -> bool:
    """Whether ``name`` is a question file's own name."""
    return any(name == stem + suffix for stem in registry.stems() for suffix in SUFFIXES)
