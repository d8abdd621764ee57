"""Deadlines and late policies: ``--deadline`` and ``--late-policy`` applied to the times a course site reports.

A policy is ``none``, ``per-day:P`` (P percent of the question points possible deducted for each started day, 24 h,
after the deadline), ``cutoff:TIME`` (a submission after TIME scores 0), or both, comma-separated:
``per-day:10,cutoff:2025-03-08T23:59``. Times are ISO 8601; one without an offset is taken in the grading machine's
time zone. A penalty never takes the score below 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

DAY = timedelta(days=1)


class PolicyError(ValueError):
    """A deadline or late policy that cannot be read; the message says what is expected."""


def parse_time(text: str, what: str = "time") -> datetime:
    """``text`` (ISO 8601, ``Z`` allowed) as an aware datetime; without an offset, in the local time zone."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise PolicyError(f"{what} {text!r} is not an ISO 8601 time such as 2025-03-01T23:59 or "
                          f"2025-03-01T23:59:00-05:00") from None
    return moment if moment.tzinfo else moment.astimezone()


@dataclass(frozen=True)
class LatePolicy:
    per_day: float = 0.0  # percent of the points possible, per started day late
    cutoff: datetime | None = None

    @classmethod
    def parse(cls, text: str | None) -> LatePolicy:
        text = (text or "none").strip()
        if text == "none":
            return cls()
        per_day, cutoff = 0.0, None
        for part in text.split(","):
            kind, _, value = part.strip().partition(":")
            if kind == "per-day":
                try:
                    per_day = float(value)
                except ValueError:
                    per_day = -1.0
                if not 0 < per_day <= 100 or not math.isfinite(per_day):
                    raise PolicyError(f"--late-policy {part.strip()!r}: per-day takes a percentage above 0 and at "
                                      f"most 100, e.g. per-day:10")
            elif kind == "cutoff":
                cutoff = parse_time(value, "the cutoff")
            else:
                raise PolicyError(f"--late-policy {text!r}: expected none, per-day:PERCENT, cutoff:TIME, or "
                                  f"per-day:PERCENT,cutoff:TIME")
        return cls(per_day, cutoff)

    def describe(self) -> str:
        parts = ([f"{self.per_day:g}% of the points possible per started day late"] if self.per_day else []) + (
            [f"0 points after {self.cutoff.isoformat(timespec='minutes')}"] if self.cutoff else [])
        return "; ".join(parts) or "no penalty"


@dataclass(frozen=True)
class Lateness:
    """How late one submission is: ``fraction`` of the points possible is deducted (1.0 is everything the student
    earned); ``line`` is the sentence the feedback and the gradebook note show ("" when on time and not flagged)."""

    late: bool | None  # None: neither a time nor the site says
    days: int = 0
    fraction: float = 0.0
    zero: bool = False  # after the cutoff: the whole score goes
    line: str = ""
    note: str = ""  # the gradebook's short form of ``line``

    def penalty(self, score: float, max_score: float) -> float:
        """Points deducted from ``score`` of ``max_score``: never more than the score itself."""
        if self.zero:
            return max(score, 0.0)
        return min(max(score, 0.0), self.fraction * max_score)


def _span(delta: timedelta) -> str:
    minutes = math.ceil(delta.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} day{'s' * (days != 1)}"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes and not days else []
    return " ".join(parts) or "under a minute"


def assess(submitted_at: datetime | None, site_late: bool | None, deadline: datetime | None,
           policy: LatePolicy, site: str = "the course site") -> Lateness:
    """Apply ``policy`` to one submission. The time decides when there is one and a deadline (or cutoff); the
    site's own late flag is only reported, since it gives no amount of lateness to charge for."""
    when = submitted_at.astimezone() if submitted_at else None
    shown = when.isoformat(timespec="minutes") if when else ""
    if when and policy.cutoff and when > policy.cutoff:
        return Lateness(True, zero=True, fraction=1.0,
                        line=f"submitted {shown}, after the cutoff {policy.cutoff.isoformat(timespec='minutes')}: "
                             f"late penalty, the score is 0", note="late, after the cutoff: 0")
    if when and deadline:
        if when <= deadline:
            return Lateness(False)
        days = math.ceil((when - deadline) / DAY)
        fraction = min(1.0, days * policy.per_day / 100)
        late = f"submitted {shown}, {_span(when - deadline)} after the deadline"
        short = f"late {days} day{'s' * (days != 1)}"
        if not fraction:
            return Lateness(True, days, line=f"{late} (no late penalty)", note=f"{short}, no penalty")
        return Lateness(True, days, fraction, line=f"{late}: late penalty {100 * fraction:g}% of the points possible "
                                                   f"({days} started day{'s' * (days != 1)} at {policy.per_day:g}%)",
                        note=f"{short}: -{100 * fraction:g}%")
    if site_late:
        reason = ("it gives no submission time, so no late penalty was computed" if not when
                  else "no --deadline was given, so no late penalty was computed")
        return Lateness(True, line=f"marked late by {site}; {reason}", note=f"late per {site}, no penalty computed")
    return Lateness(False if when and (deadline or policy.cutoff) else site_late)
