"""Training budgets: the CPU seconds a question's training call gets, and the limits and notes derived from them.

A question declares ``training_cpu_seconds`` in its ``question.toml``. The worker stops the training gracefully once
the call has used that much CPU time (user + system, its child processes included; :mod:`grader.running.kinds`), so
the weights reached are graded. The sandbox kills the worker's process tree only well past it (:func:`limits_for`):
at ``STOP_GRACE`` times the budget plus ``STARTUP_SECONDS`` of CPU time, or at ``BACKSTOP_FACTOR`` times the budget
plus ``STARTUP_SECONDS`` of wall time, the backstop for code that sleeps or waits.

``NNKIT_TRAINING_CPU_SECONDS`` overrides the declared budgets, for tests and instructors: ``"120"`` for every
question, or ``"q4=20"`` / ``"q3=300,q4_numpy_backprop=60"`` per question (label or stem).
"""

from __future__ import annotations

import dataclasses
import math
import os

from grader.running import sandbox

ENV = "NNKIT_TRAINING_CPU_SECONDS"
STOP_GRACE = 1.25          # the hard CPU limit, as a multiple of the budget: room for an epoch to finish
STARTUP_SECONDS = 60.0     # interpreter, preloaded packages, the training data and the reply, besides the budget
BACKSTOP_FACTOR = 4.0      # the wall-clock limit, as a multiple of the budget


class BudgetError(ValueError):
    """``NNKIT_TRAINING_CPU_SECONDS`` is malformed."""


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 1e6:
        raise BudgetError(f"{ENV}: {text!r} is not a positive number of CPU seconds")
    return value


def overrides(text: str | None = None) -> dict[str, float]:
    """``NNKIT_TRAINING_CPU_SECONDS`` parsed: ``{"*": s}`` for a plain number, else ``{label or stem: s}``."""
    text = os.environ.get(ENV, "") if text is None else text
    if not text.strip():
        return {}
    if "=" not in text:
        return {"*": _seconds(text.strip())}
    found = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        if not name.strip() or not value.strip():
            raise BudgetError(f"{ENV}: {item!r} is not of the form q4=20")
        found[name.strip()] = _seconds(value.strip())
    return found


def cpu_budget(question) -> float | None:
    """The CPU seconds ``question``'s training call gets: the override for it, else its ``training_cpu_seconds``."""
    given = overrides()
    for key in (question.label, question.stem, "*"):
        if key in given:
            return given[key]
    return question.training_cpu_seconds


def limits_for(limits: sandbox.Limits, budget: float) -> sandbox.Limits:
    """``limits`` for a training worker whose call gets ``budget`` CPU seconds: the hard CPU limit and the wall-clock
    backstop far above it (the memory and output limits are kept)."""
    return dataclasses.replace(limits, cpu_seconds=STOP_GRACE * budget + STARTUP_SECONDS,
                               timeout=BACKSTOP_FACTOR * budget + STARTUP_SECONDS)


def statement(budget: float) -> str:
    """How the feedback states a budget: "10 CPU-minutes" or "45 CPU-seconds"."""
    if budget >= 60 and budget % 60 == 0:
        return f"{budget / 60:g} CPU-minute{'s' * (budget != 60)}"
    return f"{budget:g} CPU-seconds"


def epochs_reached(result: dict, planned: int) -> int:
    """How many epochs a training result covers: those it reached when stopped at the budget, else ``planned``."""
    stopped = result.get("stopped") if isinstance(result, dict) else None
    return stopped["epochs"] if isinstance(stopped, dict) else planned


def stop_note(result: dict) -> str:
    """"" for a training that finished, else the note the check adds: "stopped at the budget after 14 of 50
    epochs (600 CPU-seconds)", or what killed it when the worker did not stop in time."""
    stopped = result.get("stopped") if isinstance(result, dict) else None
    if not isinstance(stopped, dict):
        return ""
    of = f" of {stopped['of']}" if isinstance(stopped.get("of"), int) else ""
    budget = stopped.get("budget")
    spent = f" ({statement(budget)})" if isinstance(budget, (int, float)) else ""
    if stopped.get("killed"):
        return (f"stopped by the grader's limit after {stopped['epochs']}{of} epochs{spent}: the epochs reached "
                f"are graded")
    return f"stopped at the budget after {stopped['epochs']}{of} epochs{spent}"


def submission_timeout(questions, queued: int = 1, other_seconds: float = 600.0) -> float:
    """Wall seconds one submission's checks may take: ``other_seconds`` for everything but training, plus each
    training worker's backstop, ``queued`` times over where trainings wait for a slot (:mod:`grader.running.slots`)."""
    backstops = sum(limits_for(sandbox.Limits(), b).timeout for q in questions if (b := cpu_budget(q)) is not None)
    return other_seconds + max(1, queued) * backstops
