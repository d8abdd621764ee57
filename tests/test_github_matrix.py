"""The GitHub Actions matrix workflow (platforms/github-actions/grade-matrix.yml): valid against the workflow schema,
one job per shard, the merge step the Slurm run uses, and its own shell steps, run here, grade and merge a class
or name the shard that failed."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess

import pytest
import yaml
from conftest import ROOT, solution_source
from test_github_classroom import schema_errors

from grader.shipping import merge

WORKFLOW = ROOT / "platforms" / "github-actions" / "grade-matrix.yml"
SLURM_MERGE = ROOT / "platforms" / "slurm" / "merge.sh"
EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
STUDENTS = ("alice", "sybil")  # Q1 and Q2 right, nothing: a small class, as every shard is a process of its own


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def step(job: dict, name: str) -> dict:
    found = [s for s in job["steps"] if s.get("name", "").startswith(name) or s.get("uses", "").startswith(name)]
    assert len(found) == 1, f"expected one step {name!r}, found {len(found)}"
    return found[0]


def test_workflow_is_valid_against_the_vendored_schema(workflow):
    errors = schema_errors(workflow)
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("job, key, value", [("merge", "needs", 42), ("grade", "timeout-minutes", [240]),
                                             ("grade", "strategy", "matrix")])
def test_schema_catches_a_broken_job(workflow, job, key, value):
    broken = copy.deepcopy(workflow)
    broken["jobs"][job][key] = value
    assert schema_errors(broken)


def test_on_is_a_string_key_for_every_yaml_reader(workflow):
    assert "on" in workflow and True not in workflow


def test_one_job_per_shard_and_a_merge_that_runs_after_failures(workflow):
    shards = int(workflow["env"]["SHARDS"])
    grade, merge_job = workflow["jobs"]["grade"], workflow["jobs"]["merge"]
    assert grade["strategy"]["matrix"]["shard"] == list(range(1, shards + 1))
    assert grade["strategy"]["fail-fast"] is False, "one failed shard must not cancel the others"
    run = step(grade, "Grade shard")["run"]
    assert "grader.shipping.shards" in run and '--shard "${{ matrix.shard }}/$SHARDS"' in run
    upload = step(grade, "Keep the shard")
    # the shard record is a hidden file; a failed shard is uploaded too, so that the merge can name it
    assert upload["with"]["include-hidden-files"] is True and upload["if"] == "${{ !cancelled() }}"
    assert merge_job["needs"] == "grade" and merge_job["if"] == "${{ !cancelled() }}"
    download = step(merge_job, "actions/download-artifact@")
    assert download["with"]["merge-multiple"] is True and download["with"]["path"] == "grades-shards"


def test_the_merge_step_is_the_slurm_runs(workflow):
    merge_run = step(workflow["jobs"]["merge"], "Merge the shards")["run"]
    command = "-m grader.shipping.cli merge --out "
    slurm = SLURM_MERGE.read_text()
    assert command in merge_run and command in slurm
    for option in ("--expect-shards", "--run"):
        assert option in merge_run and option in slurm
    grade_run = step(workflow["jobs"]["grade"], "Grade shard")["run"]
    assert '--run "${{ github.run_id }}"' in grade_run and '--run "${{ github.run_id }}"' in merge_run


def shell(run: str, values: dict[str, str], cwd, env: dict) -> subprocess.CompletedProcess:
    """Run a step's ``run`` text with bash, its ``${{ }}`` expressions replaced by ``values`` and sudo left out."""
    def value(match: re.Match) -> str:
        assert match.group(1) in values, f"unexpected expression {match.group(0)} in the workflow"
        return values[match.group(1)]
    script = EXPRESSION.sub(value, run).replace("sudo ", "")
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_workflows_own_steps_grade_and_merge_a_class(workflow, tmp_path):
    """The grade step of every shard and the merge step, run here as written, from a folder other than the kit's
    (the artifacts copied by hand)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".venv").symlink_to(ROOT / ".venv")
    for stem in ("q1_expressivity", "q2_softmax_jacobian"):
        (repo / "class" / "alice").mkdir(parents=True, exist_ok=True)
        (repo / "class" / "alice" / f"{stem}.py").write_text(solution_source(stem))
    (repo / "class" / "sybil").mkdir()
    shards = int(workflow["env"]["SHARDS"])
    env = {**os.environ, "SUBMISSIONS": "class", "SHARDS": str(shards)}
    grade_run = step(workflow["jobs"]["grade"], "Grade shard")["run"]
    merge_run = step(workflow["jobs"]["merge"], "Merge the shards")["run"]
    base = {"github.run_id": "4242", "github.job": "grade", "env.SHARDS": str(shards)}
    for i in range(1, shards + 1):
        proc = shell(grade_run, {**base, "matrix.shard": str(i)}, repo, env)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert sorted(p.name for p in (repo / "grades-shards").iterdir()) == [f"{i}-of-{shards}" for i in
                                                                         range(1, shards + 1)]
    # what the download step makes of the uploaded artifacts (merge-multiple), in the merge job's checkout
    merger = tmp_path / "merge-job"
    merger.mkdir()
    (merger / ".venv").symlink_to(ROOT / ".venv")
    shutil.copytree(repo / "grades-shards", merger / "grades-shards")
    failing = shutil.copytree(merger, tmp_path / "merge-job-failing", symlinks=True)

    proc = shell(merge_run, base, merger, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {p.name for p in merge.submission_dirs(merger / "grades")} == set(STUDENTS)
    assert len((merger / "grades" / "gradebook.csv").read_text().splitlines()) == len(STUDENTS) + 1

    # shard 3's job died before its upload: the merge names it and writes nothing
    shutil.rmtree(failing / "grades-shards" / f"3-of-{shards}")
    proc = shell(merge_run, base, failing, env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"not finished: shard 3/{shards}" in proc.stderr and not (failing / "grades").exists(), proc.stderr
