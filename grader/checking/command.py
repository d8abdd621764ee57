"""The one way to run the graded checks: the pytest command line every entry point (grade, check, bench, the kit's
own tests) builds here, so they all run the same checks with the same plugin and configuration."""

from __future__ import annotations

import sys
from pathlib import Path

from grader import registry

PYTEST_INI = Path(__file__).resolve().with_name("pytest.ini")


def pytest_args(files: list[Path]) -> list[str]:
    """pytest's arguments (without ``python -m pytest``) for the check modules ``files``."""
    return ["-c", str(PYTEST_INI), "--rootdir", str(registry.REPO), *map(str, files)]


def check_files(questions, hidden: bool = True) -> list[Path]:
    return [path for q in questions for path in q.check_files(hidden)]


def checks_command(questions, submission: Path, record: Path, *, info: Path | None = None,
                   artifacts: Path | None = None, hidden: bool = True, training: bool = True,
                   require_sandbox: bool = False) -> list[str]:
    """``python -m grader.checking.launch ...`` (pytest, set up by :mod:`grader.checking.launch`) grading the
    prepared ``submission`` folder on ``questions`` (registry entries),
    recording every check's result in ``record``."""
    cmd = [sys.executable, "-m", "grader.checking.launch", *pytest_args(check_files(questions, hidden)),
           "--submission", str(submission), "--record", str(record)]
    if info is not None:
        cmd += ["--submission-info", str(info)]
    if artifacts is not None:
        cmd += ["--artifacts", str(artifacts)]
    if require_sandbox:
        cmd.append("--require-sandbox")
    if not training:
        cmd.append("--skip-training")
    return cmd
