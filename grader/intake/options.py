"""The intake's part of ``nnkit grade``: its options, collecting the class, and recording who and how late each
graded submission was (``OUT/<id>/intake.json``, grader.intake.record) before the class outputs are rebuilt."""

from __future__ import annotations

import argparse
from pathlib import Path

from grader.intake import collect, deadline, record


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--intake", choices=collect.FORMS, default=None,
                        help="how SUBMISSIONS is laid out (default: detected): folders (one folder or zip per "
                             "student), canvas (Canvas's Download Submissions zip), gradescope (Gradescope's Export "
                             "Submissions zip), classroom (a folder of GitHub Classroom repositories)")
    parser.add_argument("--roster", type=Path, metavar="CSV",
                        help="the class roster: maps course-site ids to name, email and SIS id; students not on it "
                             "and duplicates are reported")
    parser.add_argument("--deadline", metavar="ISO8601",
                        help="the due time, e.g. 2025-03-01T23:59 (local time) or 2025-03-01T23:59-05:00")
    parser.add_argument("--late-policy", default="none", metavar="POLICY",
                        help="none (default), per-day:PERCENT (of the points possible, per started day late), "
                             "cutoff:ISO8601 (0 points after it), or per-day:PERCENT,cutoff:ISO8601")


def collect_for(opts) -> collect.Intake:
    """Read the options' deadline and policy (kept on ``opts``) and collect ``opts.submissions``; raises
    :class:`collect.IntakeError` (a bad deadline or policy included) with the message to print."""
    try:
        opts.due = deadline.parse_time(opts.deadline, "--deadline") if opts.deadline else None
        opts.policy = deadline.LatePolicy.parse(opts.late_policy)
    except deadline.PolicyError as exc:
        raise collect.IntakeError(str(exc)) from None
    if opts.policy.per_day and opts.due is None:
        raise collect.IntakeError("--late-policy per-day needs --deadline, the time lateness counts from")
    return collect.collect(opts.submissions, opts.intake, opts.roster)


def record_run(out: Path, intake: collect.Intake, opts) -> None:
    """Write every graded submission's intake.json; the feedback and gradebook read it when they are rebuilt."""
    record.write(out, intake, opts.due, opts.policy)


def summary(intake: collect.Intake, out: Path, opts) -> list[str]:
    """The run summary's intake lines: the form read, the policy, every report line, and who was late."""
    lines = [f"intake: {intake.form}, {len(intake.items)} submission{'s' * (len(intake.items) != 1)}"
             + (f"; deadline {opts.due.isoformat(timespec='minutes')}, late policy: {opts.policy.describe()}"
                if opts.due or opts.policy.cutoff else "")]
    lines += [f"intake: {line}" for line in intake.report]
    late = [sid for sid in intake.items if record.late_note(Path(out) / sid)]
    if late:
        lines.append(f"intake: late: {', '.join(f'{sid} ({record.late_note(Path(out) / sid)})' for sid in late)}")
    return lines
