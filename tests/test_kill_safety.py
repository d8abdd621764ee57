"""Killing the grader (SIGKILL to its whole process group) in the middle of a batch and running it again gives the
same outputs as one uninterrupted run, and the kill leaves no half-written report behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ROOT

STUDENTS = {
    "ada": {"q1_expressivity": "solutions", "q2_softmax_jacobian": "solutions"},
    "ben": {"q1_expressivity": "assignments", "q2_softmax_jacobian": "solutions"},
    "cho": {"q1_expressivity": "solutions"},
    "dia": {"q2_softmax_jacobian": "solutions", "q1_expressivity": "assignments"},
}


def _cli(subs: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "grader.shipping.grade", "--submissions", str(subs), "--out", str(out), "-j", "1"]


def _env(tmp: Path) -> dict[str, str]:
    """The grader's environment, with its own TMPDIR so that what it leaves there can be seen."""
    (tmp / "tmpdir").mkdir(exist_ok=True)
    # the published visible inputs: a resumed run must equal an uninterrupted one byte for byte, and fresh inputs
    # (drawn for each grading run) would change the numbers failing checks quote
    return os.environ | {"TMPDIR": str(tmp / "tmpdir"), "NNKIT_PUBLISHED_INPUTS": "1"}


def _run(subs: Path, out: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(_cli(subs, out), cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=_env(out.parent))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _alive(path: str) -> list[int]:
    """Processes whose command line mentions ``path`` (the grader, its pytest runs, bwrap and the workers)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if path.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


def _kill_midway(subs: Path, out: Path) -> dict:
    """Start the grader, SIGKILL its process group once a submission is done and a worker of the next one runs."""
    ids = sorted(STUDENTS)
    proc = subprocess.Popen(_cli(subs, out), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=_env(out.parent))
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            done = [i for i in ids if (out / i / "results.json").exists()]
            running = [p for p in out.glob(".work-*") if not (p / "record.json").exists()]
            # a worker is running: its job folder lives in the submission's work folder (the grader's TMPDIR)
            if done and running and (list(out.glob(".work-*/nnkit-job-*"))
                                     or list((out.parent / "tmpdir").glob("nnkit-job-*"))):
                break
            time.sleep(0.02)
        else:
            pytest.fail("the batch finished before it could be interrupted")
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    for _ in range(100):  # bwrap dies with its parent; give the kernel a moment
        if not _alive(str(out)):
            break
        time.sleep(0.1)
    return {"done": done, "running": [p.name for p in running], "survivors": _alive(str(out))}


def _comparable(out: Path) -> dict[str, str]:
    """Every visible output file, with the wall-clock timings and the kit's digest taken out."""
    files = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out)
        # record.json: the checks' raw record, with each worker's timings (its results are in results.json)
        if path.is_dir() or any(part.startswith(".") for part in rel.parts) or path.name == "record.json":
            continue
        text = path.read_bytes().decode(errors="replace")
        if path.name in ("results.json", "meta.json"):
            data = json.loads(text)
            data.pop("execution_time", None)
            data.pop("cache_key", None)  # a digest of the kit, which may be edited between two runs
            data.pop("cache", None)  # which questions this run took from the cache: a resumed run took some
            text = json.dumps(data, sort_keys=True)
        elif path.name == "junit.xml":
            text = re.sub(r' time="[^"]*"', "", text)
        files[str(rel)] = text
    return files


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kill")
    subs = tmp / "submissions"
    for student, files in STUDENTS.items():
        (subs / student).mkdir(parents=True)
        for stem, source in files.items():
            (subs / student / f"{stem}.py").write_bytes((ROOT / source / f"{stem}.py").read_bytes())
    _run(subs, tmp / "straight")
    killed = _kill_midway(subs, tmp / "killed")
    after_kill = {str(p.relative_to(tmp / "killed")) for p in (tmp / "killed").rglob("*")}
    json_after_kill = {str(p.relative_to(tmp / "killed")): p.read_text() for p in (tmp / "killed").rglob("*.json")
                       if not any(part.startswith(".") for part in p.relative_to(tmp / "killed").parts)}
    rerun = _run(subs, tmp / "killed")
    return SimpleNamespace(straight=tmp / "straight", out=tmp / "killed", killed=killed, after_kill=after_kill,
                           json_after_kill=json_after_kill, rerun=rerun, tmpdir=tmp / "tmpdir")


def test_kill_leaves_only_whole_reports(interrupted):
    killed = interrupted.killed
    assert killed["done"] and killed["running"], killed
    assert killed["survivors"] == [], "processes of the killed batch are still running"
    for rel, text in interrupted.json_after_kill.items():
        json.loads(text)  # every visible JSON file is complete
    for student in killed["done"]:
        assert {"results.json", "meta.json", "feedback.md", "feedback.html"} <= {
            p.split("/", 1)[1] for p in interrupted.after_kill if p.startswith(f"{student}/")}
    visible = {p for p in interrupted.after_kill if not any(part.startswith(".") for part in p.split("/"))}
    assert not [p for p in visible if p.endswith(".tmp")]


def test_rerun_after_kill_equals_an_uninterrupted_run(interrupted):
    straight, resumed = _comparable(interrupted.straight), _comparable(interrupted.out)
    assert straight.keys() == resumed.keys()
    assert [name for name in straight if straight[name] != resumed[name]] == []
    assert "(cached)" in interrupted.rerun.stdout  # the finished submissions were not graded again


def test_rerun_after_kill_leaves_no_work_folders(interrupted):
    assert [p.name for p in interrupted.out.iterdir() if p.name.startswith(".")] == []


def test_kill_leaves_nothing_in_tmpdir(interrupted):
    assert sorted(p.name for p in interrupted.tmpdir.iterdir()) == []
