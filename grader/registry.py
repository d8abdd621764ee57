"""The homework's questions, discovered from their folders: the one place that knows which questions exist.

A question is a folder ``questions/<stem>/``, where ``<stem>`` is the module students write (``<stem>.py`` or
``<stem>.ipynb``). Everything the kit knows about the question lives there::

    questions/<stem>/
        __init__.py         empty (the folder is a package, so its checks import its helpers by name)
        question.toml       label, title, parts, what the worker preloads, which plots the checks draw, which
                            packages the worker replaces by placeholders (forbid_imports), and how much a failing
                            check explains (hints = "none", "hint" (the default) or "full")
        checks.py           the visible checks (shipped to students)
        common.py           optional: trusted helpers the checks share
        plots.py            optional: the plots the checks draw for the feedback
        hidden/__init__.py  empty
        hidden/checks.py    the hidden checks
        hidden/*.py         optional: instructor-only helpers, e.g. reference.py (the reference values)

and its reference solution and notebook are ``solutions/<stem>.py`` and ``solutions/<stem>.ipynb``, from which
``make assignments`` generates the stub and the student notebook. Whatever sits in a folder named ``hidden`` is
instructor-only: the student bundle leaves every such folder out. Points, visibility and whether a check trains are
attached to each check by its ``@pytest.mark.check`` marker; which question a check belongs to is the folder it is in.

Labels have one form, ``q<number>`` (``q4``), and a part of a question one more letter (``q1a``): the command line
(``make check Q=q4``), the written-answer tags (``answer:q1a``) and the check markers use it. Pages print it
with a capital Q (``Q1a``, :func:`heading`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUESTIONS_DIR = REPO / "questions"
SOLUTIONS_DIR = REPO / "solutions"
HIDDEN = "hidden"
_LABEL = re.compile(r"q(\d+)")
_PART = re.compile(r"q\d+[a-z]?")
_STEM = re.compile(r"[a-z][a-z0-9_]*")
_KEYS = {"label", "title", "parts", "preload", "plots", "forbid_imports", "hints", "training_cpu_seconds"}
HINT_LEVELS = ("none", "hint", "full")  # what a failing check says beyond what came back (grader.checking.messages)


def heading(label: str) -> str:
    """How pages print a question's or a part's label: ``q4`` as ``Q4``, ``q1a`` as ``Q1a``."""
    return "Q" + label[1:]


class RegistryError(ValueError):
    """A question folder is incomplete or inconsistent; the message names the folder and what is wrong."""


@dataclass(frozen=True)
class Question:
    stem: str                        # the folder's name and the student's module name
    label: str                       # "q4"
    title: str                       # "Backpropagation in numpy"
    folder: Path
    parts: dict[str, str] = field(default_factory=dict)   # part label -> title; at least the question's own label
    preload: tuple[str, ...] = ()    # modules the worker imports before the student's (their import time is ours)
    plots: tuple[str, ...] = ()      # file names the checks draw under the feedback's plots/
    forbid_imports: tuple[str, ...] = ()  # top-level packages the worker replaces by placeholders whose use raises
    hints: str = "hint"              # one of HINT_LEVELS: "none" drops hints, "full" adds the "Detail:" lines
    training_cpu_seconds: float | None = None  # CPU seconds a training call gets (grader.running.budget)

    @property
    def number(self) -> int:
        return int(_LABEL.fullmatch(self.label)[1])

    @property
    def heading(self) -> str:
        """How pages print the label: ``Q4``."""
        return heading(self.label)

    @property
    def package(self) -> str:
        return f"questions.{self.stem}"

    @property
    def visible_checks(self) -> Path:
        return self.folder / "checks.py"

    @property
    def hidden_dir(self) -> Path:
        return self.folder / HIDDEN

    @property
    def hidden_checks(self) -> Path:
        return self.hidden_dir / "checks.py"

    @property
    def solution(self) -> Path:
        return SOLUTIONS_DIR / f"{self.stem}.py"

    @property
    def notebook(self) -> Path:
        return SOLUTIONS_DIR / f"{self.stem}.ipynb"

    def check_files(self, hidden: bool = True) -> list[Path]:
        """The check modules to give pytest: the visible ones, and the hidden ones where present and wanted."""
        files = [self.visible_checks]
        if hidden and self.hidden_checks.is_file():
            files.append(self.hidden_checks)
        return files


def _load(folder: Path) -> Question:
    where = f"questions/{folder.name}/question.toml"
    if not _STEM.fullmatch(folder.name):
        raise RegistryError(f"questions/{folder.name}: a question folder's name is its module's name "
                            f"(lower case letters, digits and _)")
    try:
        meta = tomllib.loads((folder / "question.toml").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(f"{where} is missing: every question folder needs one") from None
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{where}: {exc}") from None
    unknown = set(meta) - _KEYS
    if unknown:
        raise RegistryError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
    label, title = meta.get("label"), meta.get("title")
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise RegistryError(f"{where}: label must look like q<number> (e.g. q4), got {label!r}")
    if not isinstance(title, str) or not title.strip():
        raise RegistryError(f"{where}: title must be a non-empty string")
    parts = meta.get("parts", {label: title})
    if not isinstance(parts, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in parts.items()):
        raise RegistryError(f"{where}: parts must be a table of part label = title")
    bad = [p for p in parts if not (_PART.fullmatch(p) and p.startswith(label) and p[len(label):].isalpha()
                                    or p == label)]
    if bad:
        raise RegistryError(f"{where}: parts {bad} must be {label} or {label} followed by one letter ({label}a)")
    lists = {}
    for key in ("preload", "plots", "forbid_imports"):
        value = meta.get(key, [])
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise RegistryError(f"{where}: {key} must be a list of strings")
        lists[key] = tuple(value)
    hints = meta.get("hints", "hint")
    if hints not in HINT_LEVELS:
        raise RegistryError(f"{where}: hints must be one of {', '.join(HINT_LEVELS)}, got {hints!r}")
    return Question(folder.name, label, title.strip(), folder, dict(parts), lists["preload"], lists["plots"],
                    lists["forbid_imports"], hints, _training_cpu_seconds(meta, where))


def _training_cpu_seconds(meta: dict, where: str) -> float | None:
    """``training_cpu_seconds``: a positive number of CPU seconds, or absent (the question trains nothing)."""
    value = meta.get("training_cpu_seconds")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e6:
        raise RegistryError(f"{where}: training_cpu_seconds must be a positive number of CPU seconds, got {value!r}")
    return float(value)


@cache
def _discover(root: Path) -> tuple[Question, ...]:
    if not root.is_dir():
        raise RegistryError(f"{root} does not exist: the kit has no questions")
    folders = [p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith((".", "_"))]
    found = [_load(p) for p in folders]
    labels: dict[str, str] = {}
    for q in found:
        if q.label in labels:
            raise RegistryError(f"questions/{q.stem} and questions/{labels[q.label]} both have label {q.label}")
        labels[q.label] = q.stem
    return tuple(sorted(found, key=lambda q: q.number))


def questions(root: Path | None = None) -> tuple[Question, ...]:
    """Every question, in label order."""
    return _discover((root or QUESTIONS_DIR).resolve())


def stems(root: Path | None = None) -> tuple[str, ...]:
    return tuple(q.stem for q in questions(root))


def by_stem(stem: str) -> Question:
    for q in questions():
        if q.stem == stem:
            return q
    raise KeyError(stem)


def lookup(text: str) -> Question:
    """The question named by ``q2``, ``Q2``, ``2`` or its stem ``q2_softmax_jacobian``; KeyError otherwise."""
    key = text.strip().lower()
    key = key if key.startswith("q") or not key.isdigit() else f"q{key}"
    for q in questions():
        if key in (q.label, q.stem):
            return q
    raise KeyError(text)


def of_module(module_name: str) -> Question | None:
    """The question a check module (``questions.<stem>.checks``, ``questions.<stem>.hidden.checks``) belongs to."""
    parts = module_name.split(".")
    if len(parts) >= 2 and parts[0] == "questions":
        for q in questions():
            if q.stem == parts[1]:
                return q
    return None


def is_hidden_module(module_name: str) -> bool:
    return HIDDEN in module_name.split(".")[2:]


def is_hidden_path(rel_path: str) -> bool:
    """Whether a path inside the repository is instructor-only: it has a folder named ``hidden``."""
    return HIDDEN in Path(rel_path).parts[:-1]


def problems(root: Path | None = None, solutions: Path | None = None) -> list[str]:
    """What each question folder lacks, as sentences: the registry's completeness check (empty when all is well)."""
    out = []
    solutions = solutions or SOLUTIONS_DIR
    for q in questions(root):
        need = {
            "__init__.py": q.folder / "__init__.py",
            "a visible check (checks.py)": q.visible_checks,
            "hidden/__init__.py": q.hidden_dir / "__init__.py",
            "a hidden check (hidden/checks.py)": q.hidden_checks,
            f"a reference solution (solutions/{q.stem}.py)": solutions / f"{q.stem}.py",
            f"a notebook (solutions/{q.stem}.ipynb)": solutions / f"{q.stem}.ipynb",
        }
        out += [f"questions/{q.stem} lacks {what}" for what, path in need.items() if not path.is_file()]
    return out
