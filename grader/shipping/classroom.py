"""GitHub Classroom's autograding workflow, generated from the question folders: one grading step per question.

    python -m grader.shipping.classroom            # print it
    python -m grader.shipping.classroom --write    # regenerate platforms/github-classroom/classroom.yml

Each step runs ``make check Q=<label>`` (the visible checks only) with GitHub Classroom's command grader, which awards
the step's max-score when the command exits 0, so a question counts all or nothing there; the full grade, with
partial credit and the hidden checks, comes from the instructor's grader. A step's max-score is the points of the
question's visible checks as the plugin shares them (:func:`grader.checking.inventory.summaries`); a question with a
training check runs it (``FULL=1``), so its max-score honestly includes the training points, with a longer timeout.

``make release`` writes the workflow into the student bundle as ``.github/workflows/classroom.yml``. The copy
committed as ``platforms/github-classroom/classroom.yml`` is for reading and review; tests/test_github_classroom.py
fails when it differs from what this module generates.
"""

from __future__ import annotations

import argparse
import json
import sys

from grader import registry
from grader.files import atomic_write_text

COMMITTED = registry.REPO / "platforms" / "github-classroom" / "classroom.yml"
IN_BUNDLE = ".github/workflows/classroom.yml"
REGENERATE = "python -m grader.shipping.classroom --write"
GRADER = "classroom-resources/autograding-command-grader@v1"
REPORTER = "classroom-resources/autograding-grading-reporter@v1"
TIMEOUT, TRAINING_TIMEOUT = 10, 30  # minutes; the training checks take several

HEAD = f"""\
# GitHub Classroom autograding for the student bundle, which holds it as {IN_BUNDLE}.
# Generated from the question folders by `{REGENERATE}`; do not edit.
#
# One step per question runs `make check Q=<question>` (the visible checks only; FULL=1 where the question has
# training checks, so they run and count) with the command grader, which awards a question's max-score when the
# command exits 0, so a question counts all or nothing here; the full grade, with partial credit and the hidden checks,
# comes from the instructor's grader. Each max-score is the sum of the points of that question's visible checks.
# The reporter sends the total to GitHub Classroom, which reads it only from a workflow named "Autograding Tests"
# whose one job is "run-autograding-tests".
name: Autograding Tests
"on":
  - push
  - repository_dispatch
  - workflow_dispatch
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  run-autograding-tests:
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    steps:
      - name: Checkout code
        uses: actions/checkout@v4
      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install the kit
        run: make setup
"""
STEP = """\
      - name: {name}
        id: {id}
        uses: {grader}
        with:
          test-name: {name}
          command: make check Q={id}{full}
          timeout: {timeout}
          max-score: {points}
"""


def _quoted(text: str) -> str:
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def _number(x: float) -> str:
    x = round(x, 6)  # shares of a parametrized check's points add up to the check's points, up to rounding
    return str(int(x)) if x == int(x) else repr(x)


def workflow(questions=None) -> str:
    """The workflow's text for ``questions`` (:class:`grader.checking.inventory.Summary`; default: every question)."""
    if questions is None:
        from grader.checking.inventory import summaries

        questions = summaries()
    steps = [STEP.format(name=_quoted(f"{q.heading}: {q.title}"), id=q.label, grader=GRADER,
                         full=" FULL=1" if q.training else "", timeout=TRAINING_TIMEOUT if q.training else TIMEOUT,
                         points=_number(q.points))
             for q in questions]
    env = "".join(f"          {q.label.upper()}_RESULTS: {_quoted(f'${{{{ steps.{q.label}.outputs.result }}}}')}\n"
                  for q in questions)
    reporter = (f"      - name: Autograding Reporter\n        uses: {REPORTER}\n        env:\n{env}"
                f"        with:\n          runners: {','.join(q.label for q in questions)}\n")
    return HEAD + "".join(steps) + reporter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true",
                        help=f"write it to {COMMITTED.relative_to(registry.REPO)} instead of printing it")
    opts = parser.parse_args(argv)
    text = workflow()
    if opts.write:
        atomic_write_text(COMMITTED, text)
        print(f"wrote {COMMITTED.relative_to(registry.REPO)}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
