"""The GitHub Classroom workflow: generated from the question folders, committed as the template, a valid workflow
that grades each question with `make check` for the points its visible checks are worth, reported the way GitHub
Classroom's autograding actions expect."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys

import jsonschema
import pytest
import yaml
from conftest import ROOT

from grader import registry
from grader.shipping import classroom

WORKFLOW = ROOT / "platforms" / "github-classroom" / "classroom.yml"
SCHEMA = ROOT / "schemas" / "github-workflow.json"
GRADER = "classroom-resources/autograding-command-grader@v1"
REPORTER = "classroom-resources/autograding-grading-reporter@v1"


def visible_markers(path) -> list[dict]:
    """The keyword arguments of each visible check's marker in the check module ``path``, points filled in.

    A parametrized check shares its points among its cases, so each check function counts once. Parsed rather than
    imported: this reads the markers independently of the plugin the generator relies on.
    """
    out = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
            continue
        marks = [d for d in node.decorator_list
                 if isinstance(d, ast.Call) and ast.unparse(d.func) == "pytest.mark.check"]
        assert len(marks) == 1, f"{path}::{node.name} needs exactly one check marker"
        kwargs = {k.arg: ast.literal_eval(k.value) for k in marks[0].keywords}
        assert not kwargs.get("hidden"), f"{path}::{node.name} is hidden but sits among the visible checks"
        args = [ast.literal_eval(a) for a in marks[0].args]
        out.append({**kwargs, "points": float(kwargs.get("points", args[0] if args else 1))})
    return out


def visible_points() -> dict[str, float]:
    """Points of the visible checks per question label."""
    return {q.label: sum(m["points"] for m in visible_markers(q.visible_checks)) for q in registry.questions()}


def training() -> set[str]:
    """The labels of the questions with a visible training check."""
    return {q.label for q in registry.questions() if any(m.get("training") for m in visible_markers(q.visible_checks))}


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def graders(workflow: dict) -> list[dict]:
    return [s for s in workflow["jobs"]["run-autograding-tests"]["steps"] if s.get("uses") == GRADER]


def test_committed_workflow_is_the_generated_one():
    # in a process of its own: the generator collects the checks with pytest
    proc = subprocess.run([sys.executable, "-m", "grader.shipping.classroom"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert WORKFLOW.read_text(encoding="utf-8") == proc.stdout, (
        f"{WORKFLOW.relative_to(ROOT)} is not what the question folders generate: run `{classroom.REGENERATE}` to "
        f"regenerate it")


def schema_errors(workflow: dict) -> list[str]:
    """What the vendored GitHub workflow schema finds wrong with ``workflow``, one line per error with its path."""
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    validator.check_schema(schema)
    errors = sorted(validator.iter_errors(workflow), key=lambda e: list(e.absolute_path))
    return [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_workflow_is_valid_against_the_vendored_schema(workflow):
    errors = schema_errors(workflow)
    assert not errors, "\n".join(errors)


def test_schema_catches_a_broken_workflow(workflow):
    broken = json.loads(json.dumps(workflow))
    broken["jobs"]["run-autograding-tests"]["steps"][0]["uses"] = 42
    assert list(jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).iter_errors(broken))


def test_on_is_a_string_key_for_every_yaml_reader(workflow):
    # YAML 1.1 readers (PyYAML) turn a bare `on:` into True; quoted, GitHub and every linter read the same thing
    assert "on" in workflow and True not in workflow
    assert {"push", "repository_dispatch", "workflow_dispatch"} <= set(workflow["on"])


def test_classroom_reads_the_points_from_this_workflow(workflow):
    # the reporter's README: named "Autograding Tests", one job named "run-autograding-tests"
    assert workflow["name"] == "Autograding Tests"
    assert list(workflow["jobs"]) == ["run-autograding-tests"]
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    assert steps[-1]["uses"] == REPORTER


def test_one_grader_per_question_running_make_check_with_the_visible_points(workflow):
    points, trains = visible_points(), training()
    assert trains, "no question has a training check: did the marker change?"
    steps = graders(workflow)
    assert [s["id"] for s in steps] == [q.label for q in registry.questions()]
    for step in steps:
        label = step["id"]
        inputs = step["with"]
        # questions with a training check run it (FULL=1), so their max-score includes the training points honestly
        full = " FULL=1" if label in trains else ""
        assert inputs["command"] == f"make check Q={label}{full}"
        assert inputs["max-score"] == pytest.approx(points[label]), (
            f"{label}: max-score {inputs['max-score']} but its visible checks are worth {points[label]:g}; "
            f"run `{classroom.REGENERATE}`")
        assert inputs["test-name"].startswith(f"{label.upper()}: ")
        assert 0 < inputs["timeout"] <= 360  # minutes; the action's limit is 6 hours
    assert len({s["with"]["test-name"] for s in steps}) == len(steps)


def test_reporter_gets_every_graders_result(workflow):
    ids = [s["id"] for s in graders(workflow)]
    reporter = workflow["jobs"]["run-autograding-tests"]["steps"][-1]
    assert reporter["with"]["runners"].split(",") == ids
    # the reporter reads <RUNNER ID in capitals>_RESULTS, base64 JSON from the grader's `result` output
    assert reporter["env"] == {f"{i.upper()}_RESULTS": f"${{{{ steps.{i}.outputs.result }}}}" for i in ids}
    assert all(re.fullmatch(r"[a-z0-9]+", i) for i in ids)


def test_the_kit_is_set_up_before_grading(workflow):
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    first_grader = next(i for i, s in enumerate(steps) if s.get("uses") == GRADER)
    runs = [s.get("run", "") for s in steps[:first_grader]]
    assert "make setup" in runs
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"]["python-version"] == "3.11"
