"""The checks' pytest (``python -m grader.checking.launch``) runs the same checks whatever pytest settings the
environment holds: ``make test`` or a user's shell may set ``PYTEST_ADDOPTS`` or ``PYTEST_PLUGINS``."""

from __future__ import annotations

import json
import os
import subprocess

from conftest import ROOT, solution_source

from grader import registry
from grader.checking.command import checks_command

STEM = "q1_expressivity"


def statuses(tmp, env: dict[str, str]) -> dict[str, str]:
    sub = tmp / "sub"
    sub.mkdir(exist_ok=True)
    (sub / f"{STEM}.py").write_text(solution_source(STEM), encoding="utf-8")
    record = tmp / "record.json"
    record.unlink(missing_ok=True)
    cmd = checks_command([registry.by_stem(STEM)], sub, record)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600, env={**os.environ, **env})
    assert record.is_file(), f"no record (exit {proc.returncode})\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return {c["nodeid"]: c["status"] for c in json.loads(record.read_text())["checks"]}


def test_pytest_settings_in_the_environment_change_nothing(tmp_path):
    plain = statuses(tmp_path, {"PYTEST_ADDOPTS": "", "PYTEST_PLUGINS": ""})
    assert plain and set(plain.values()) == {"passed"}, plain
    # --collect-only would run no check; -k would deselect all but one; a plugin that cannot be imported stops pytest
    hostile = {"PYTEST_ADDOPTS": "--collect-only -k box_network_shape", "PYTEST_PLUGINS": "no_such_plugin_module"}
    assert statuses(tmp_path, hostile) == plain
