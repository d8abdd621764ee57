"""Grading across machines on a real Slurm engine: a single-node cluster (Debian's slurm-wlm and munge, with a
generated slurm.conf, state and logs in a temporary folder, its own ports on 127.0.0.1) is started here, and
platforms/slurm/submit.sh submits the shipped array and merge jobs to it unchanged."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT
from test_sharding import _junit

from grader.checking.checklib import PUBLISHED_INPUTS_ENV
from grader.shipping import merge, shards
from grader.shipping.grade import checks_digest, in_shard

SUBMIT = ROOT / "platforms" / "slurm" / "submit.sh"
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel")
# two submissions in shard 1 of 2, one in shard 2 (see test_the_class_fills_both_shards): few, to keep it short
STUDENTS = ("reference", "box_wrong_sign", "exp_jacobian")
FAILING = 2  # the shard whose output folder is blocked in the first run
JOB_TIMEOUT = 600


def require_slurm() -> None:
    """Skip only where the Debian packages cannot be installed; where they can, their absence is a failure."""
    missing = [d for d in DAEMONS if shutil.which(d) is None]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"no {', '.join(missing)}, and the Debian packages slurm-wlm and munge cannot be installed here "
                    "(needs root and apt-get)")
    pytest.fail(f"no {', '.join(missing)}: run `sh scripts/system-packages.sh --test` (make setup does), which "
                "installs slurm-wlm and munge")


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Cluster:
    base: Path
    env: dict

    def run(self, *cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check:
            assert proc.returncode == 0, f"{' '.join(cmd)}: {proc.stdout}{proc.stderr}\n{self.logs()}"
        return proc

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                         for p in sorted((self.base / "log").glob("*.log")))

    def job(self, job_id: str) -> list[dict]:
        """Each job (each array task) of ``job_id`` as scontrol shows it: {"JobState": ..., "ExitCode": ...}."""
        out = self.run("scontrol", "show", "job", "-o", job_id).stdout
        return [dict(re.findall(r"(\w[\w/:]*)=(\S*)", line)) for line in out.splitlines() if line.strip()]

    def wait(self, *job_ids: str, timeout: float = JOB_TIMEOUT) -> None:
        """Wait until none of the jobs is queued or running; cancel them and fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.run("squeue", "-h", "-j", ",".join(job_ids), check=False).stdout.strip():
            if time.monotonic() > deadline:
                self.run("scancel", *job_ids, check=False)
                pytest.fail(f"jobs {job_ids} still queued or running after {timeout} s (cancelled)\n{self.logs()}")
            time.sleep(2)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _processes_using(base: Path) -> list[int]:
    """The processes with their working directory or an open file under ``base`` (the daemons and job steps of the
    cluster kept there), and all their descendants (the jobs' processes)."""
    roots, parent = set(), {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if any(os.readlink(link).startswith(f"{base}/") for link in [entry / "cwd", *(entry / "fd").iterdir()]):
                roots.add(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    found, grew = set(roots), True
    while grew:
        more = {pid for pid, ppid in parent.items() if ppid in found} - found
        found |= more
        grew = bool(more)
    return sorted(found)


def _commands(pids) -> list[bytes]:
    commands = []
    for pid in pids:
        with contextlib.suppress(OSError):
            commands.append(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0])
    return commands


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    except (OSError, IndexError):
        return False


def _gone(pids, timeout: float = 10) -> list[int]:
    """Wait up to ``timeout`` seconds for the processes ``pids`` to end; return those still alive."""
    deadline = time.monotonic() + timeout
    while (alive := [pid for pid in pids if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


@contextlib.contextmanager
def slurm_cluster() -> Iterator[Cluster]:
    """A one-node Slurm cluster of this machine's CPUs and memory, one partition, SlurmUser=root, its own munged,
    ports and state in a temporary folder; stopped, with every job and step of it, however the block ends."""
    require_slurm()
    base = Path(tempfile.mkdtemp(prefix="nnkit-slurm-"))
    base.chmod(0o755)  # munged wants every user able to reach its socket
    procs: list[subprocess.Popen] = []
    try:
        for sub in ("munge", "state", "spool", "log"):
            (base / sub).mkdir()
        key = base / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        shutil.chown(base / "munge", "munge", "munge")
        shutil.chown(key, "munge", "munge")
        sock = base / "munge" / "munge.socket"
        procs.append(subprocess.Popen(
            ["setpriv", "--reuid=munge", "--regid=munge", "--init-groups", "munged", "--foreground",
             f"--key-file={key}", f"--socket={sock}", f"--pid-file={base / 'munge' / 'munged.pid'}",
             f"--log-file={base / 'log' / 'munged.log'}", f"--seed-file={base / 'munge' / 'seed'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert procs[0].poll() is None and time.monotonic() < deadline, "munged did not start"
            time.sleep(0.1)

        # slurmd -C: this machine's node line (NodeName=<host> CPUs=... RealMemory=...)
        node = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
        name = node.split()[0].split("=", 1)[1]
        ctld_port, d_port = free_ports(2)
        conf = base / "slurm.conf"
        conf.write_text("\n".join([
            "ClusterName=nnkit-test",
            f"SlurmctldHost={name}(127.0.0.1)",
            f"SlurmctldPort={ctld_port}",
            f"SlurmdPort={d_port}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={sock}",
            f"StateSaveLocation={base / 'state'}",
            f"SlurmdSpoolDir={base / 'spool'}",
            f"SlurmctldPidFile={base / 'slurmctld.pid'}",
            f"SlurmdPidFile={base / 'slurmd.pid'}",
            f"SlurmctldLogFile={base / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={base / 'log' / 'slurmd.log'}",
            "MailProg=/bin/true",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SwitchType=switch/none",
            "MpiDefault=none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU_Memory",
            "DefMemPerCPU=1024",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "ReturnToService=2",
            "MinJobAge=3600",
            f"{node} NodeAddr=127.0.0.1 State=UNKNOWN",
            "PartitionName=grading Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        ]) + "\n")
        env = {**os.environ, "SLURM_CONF": str(conf)}
        for cmd in (["slurmctld", "-D", "-i", "-f", str(conf)], ["slurmd", "-D", "-f", str(conf), "-N", name]):
            with open(base / "log" / f"{cmd[0]}.out", "w") as log:
                procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
        cluster = Cluster(base, env)
        deadline = time.monotonic() + 60
        while cluster.run("sinfo", "-h", "-o", "%T", check=False).stdout.strip() != "idle":
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                pytest.fail(f"the Slurm node did not come up idle within 60 s\n{cluster.logs()}")
            time.sleep(0.5)
        yield cluster
    finally:
        if len(procs) == 3 and procs[1].poll() is None:  # slurmctld is up: cancel every job, let the steps end
            env = {**os.environ, "SLURM_CONF": str(base / "slurm.conf")}
            with contextlib.suppress(subprocess.TimeoutExpired):
                subprocess.run(["scancel", "--full", "--user=root"], env=env, capture_output=True, timeout=30)
                deadline = time.monotonic() + 30
                while subprocess.run(["squeue", "-h"], env=env, capture_output=True, text=True,
                                     timeout=30).stdout.strip() and time.monotonic() < deadline:
                    time.sleep(0.5)
        for proc in reversed(procs):  # slurmd, slurmctld, then munged
            _stop(proc)
        stray = _processes_using(base)  # job steps that outlived slurmd, and their jobs: started by this cluster
        for pid in stray:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        left = _gone(stray + _processes_using(base))
        shutil.rmtree(base, ignore_errors=True)
        assert not left, f"processes of the test cluster survived its teardown: {left}"


def submit(cluster: Cluster, subs: Path, out: Path, *grade_options: str) -> tuple[str, str]:
    """Submit the shipped scripts, as `make grade-slurm TASKS=2` does; return the array and merge job ids."""
    proc = cluster.run("bash", str(SUBMIT), "-n", "2", "-s", str(subs), "-o", str(out), "--", *grade_options)
    found = re.search(r"submitted array job (\d+) .* and merge job (\d+)", proc.stdout)
    assert found, proc.stdout + proc.stderr
    return found.group(1), found.group(2)


def test_the_cluster_is_torn_down_when_the_test_fails_midway():
    """A failure with a job still running leaves no daemon, job step or job process behind."""
    with pytest.raises(RuntimeError, match="midway"), slurm_cluster() as cluster:
        cluster.run("sbatch", "--parsable", "-o", "/dev/null", "--wrap", "sleep 600")
        base, deadline = cluster.base, time.monotonic() + 60
        while b"sleep" not in (commands := _commands(running := _processes_using(base))):
            assert time.monotonic() < deadline, f"the job's sleep never showed among the cluster's processes: {commands}"
            time.sleep(0.5)
        raise RuntimeError("midway")
    assert not base.exists()
    assert not _gone(running), "a process of the cluster survived its teardown"


def test_the_class_fills_both_shards():
    assert [sum(in_shard(s, i, 2) for s in STUDENTS) for i in (1, 2)] == [2, 1], STUDENTS


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """A single local run, then on the cluster a run with shard FAILING blocked, then the same run submitted again.

    Each grading run draws fresh inputs for the visible checks; all of these use the published ones instead, so that
    the runs grade the same thing and equal results mean equal grading."""
    with slurm_cluster() as cluster:
        cluster.env[PUBLISHED_INPUTS_ENV] = "1"  # exported to the jobs by sbatch
        kit_before = checks_digest(visible_only=False, skip_training=True)
        base = tmp_path_factory.mktemp("slurm-grading")
        subs = base / "submissions"
        for student in STUDENTS:
            shutil.copytree(ROOT / "examples" / "submissions" / student, subs / student)
        single = base / "single"
        proc = subprocess.run([sys.executable, "-m", "grader.shipping.cli", "grade", "--submissions", str(subs),
                               "--out", str(single), "-j", "2", "--skip-training"],
                              cwd=ROOT, capture_output=True, text=True, timeout=900, env=cluster.env)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

        out = base / "grades"
        shard_dirs = out.with_name("grades-shards")
        # a real failure: the shard's output folder cannot be made, because a file is in its way
        shard_dirs.mkdir()
        blocker = shard_dirs / f"{FAILING}-of-2"
        blocker.write_text("in the way\n")
        start = time.monotonic()
        first = submit(cluster, subs, out, "--skip-training")
        cluster.wait(*first)
        elapsed = [time.monotonic() - start]
        first_jobs = {"array": cluster.job(first[0]), "merge": cluster.job(first[1])[0]}
        first_out = sorted(p.name for p in out.iterdir()) if out.exists() else []
        graded_first = {p.name: (p / "results.json").stat().st_mtime_ns
                        for p in merge.submission_dirs(shard_dirs / f"{3 - FAILING}-of-2")}

        blocker.unlink()
        start = time.monotonic()
        second = submit(cluster, subs, out, "--skip-training")
        cluster.wait(*second)
        elapsed.append(time.monotonic() - start)
        kit_changed = checks_digest(visible_only=False, skip_training=True) != kit_before
        yield {"kit_changed": kit_changed, "single": single, "out": out, "shards": shard_dirs, "first": first,
               "first_jobs": first_jobs, "first_out": first_out, "graded_first": graded_first, "second": second, "elapsed": elapsed,
               "second_jobs": {"array": cluster.job(second[0]), "merge": cluster.job(second[1])[0]},
               "logs": {p.name: p.read_text() for p in (shard_dirs / "logs").iterdir()}}


def log(runs: dict, kind: str, job: str, task: int | None = None) -> str:
    name = f"grade-{job}_{task}.out" if kind == "grade" else f"merge-{job}.out"
    return runs["logs"][name]


def test_a_failed_shard_is_named_by_the_merge_job_which_writes_nothing(runs):
    tasks = {int(t["ArrayTaskId"]): t for t in runs["first_jobs"]["array"]}
    assert tasks[3 - FAILING]["JobState"] == "COMPLETED", tasks
    assert tasks[FAILING]["JobState"] == "FAILED", tasks
    merge_job = runs["first_jobs"]["merge"]
    assert merge_job["JobState"] == "FAILED" and merge_job["ExitCode"] == "1:0", merge_job
    text = log(runs, "merge", runs["first"][1])
    assert "not merging, so that no partial gradebook is written" in text, text
    assert f"grades-shards/{FAILING}-of-2: not a directory" in text, text
    assert f"not finished: shard {FAILING}/2;" in text, text
    assert f"grade-{runs['first'][0]}_{FAILING}.out" in text, "the merge's log should point at the failed task's log"
    # no gradebook, no junit, no student copied: nothing partial
    assert runs["first_out"] == [], runs["first_out"]


def test_the_failed_task_says_why(runs):
    text = log(runs, "grade", runs["first"][0], FAILING)
    assert f"shard {FAILING}/2" in text and re.search("FileExists|File exists|Not a directory", text), text
    assert "error: cannot write the shard record" in text and "exited with status 1" in text, text


def test_resubmitting_grades_only_what_is_missing(runs):
    assert not runs["kit_changed"], "files under grader/ or questions/ changed during the test: the cache was stale"
    graded = runs["graded_first"]
    assert set(graded) == {s for s in STUDENTS if in_shard(s, 3 - FAILING, 2)}
    done_shard = runs["shards"] / f"{3 - FAILING}-of-2"
    again = {name: (done_shard / name / "results.json").stat().st_mtime_ns for name in graded}
    assert again == graded, "the shard that had finished was graded again instead of served from the cache"
    cached = log(runs, "grade", runs["second"][0], 3 - FAILING)
    for student in graded:
        assert re.search(rf"{student}\s+[\d.]+ / [\d.]+\s+\(cached\)", cached), cached
    fresh = log(runs, "grade", runs["second"][0], FAILING)
    assert "(cached)" not in fresh and all(s in fresh for s in STUDENTS if in_shard(s, FAILING, 2)), fresh
    assert {t["JobState"] for t in runs["second_jobs"]["array"]} == {"COMPLETED"}
    assert runs["second_jobs"]["merge"]["JobState"] == "COMPLETED"


def test_tasks_take_their_resources_and_J_from_the_script(runs):
    for task in runs["second_jobs"]["array"]:
        assert task["CPUs/Task"] == "2" and task["MinMemoryCPU"] == "7G" and task["TimeLimit"] == "04:00:00", task
        text = log(runs, "grade", runs["second"][0], int(task["ArrayTaskId"]))
        assert re.search(rf"--shard {task['ArrayTaskId']}/2 -j 2 --skip-training", text), text


def test_merged_gradebook_junit_and_results_equal_a_single_run(runs):
    single, out = runs["single"], runs["out"]
    assert (out / "gradebook.csv").read_text() == (single / "gradebook.csv").read_text()
    assert _junit(out / "junit.xml") == _junit(single / "junit.xml")
    assert {p.name for p in merge.submission_dirs(out)} == set(STUDENTS)
    for student in STUDENTS:
        one, merged = (json.loads((d / student / "results.json").read_text()) for d in (single, out))
        assert one.pop("execution_time") >= 0 and merged.pop("execution_time") >= 0
        assert merged == one, student
    scores = {s: json.loads((out / s / "results.json").read_text())["score"] for s in STUDENTS}
    assert scores["reference"] > max(scores["box_wrong_sign"], scores["exp_jacobian"]), scores
    first, second = runs["elapsed"]
    print(f"\ntwo-shard Slurm runs, submission to merged: {first:.0f} s with shard {FAILING} failing, {second:.0f} s "
          f"resubmitted (shard {3 - FAILING} cached)")


# The merge's shard check without a cluster: every way a shard can fail to finish is named.

def _shard(tmp_path: Path, i: int, n: int = 2, status: int = 0, run: str = "7") -> Path:
    d = tmp_path / f"{i}-of-{n}"
    d.mkdir()
    shards.write_record(d, (i, n), status, run, log=f"/logs/grade-{run}_{i}.out")
    return d


def test_shard_check_passes_a_complete_run(tmp_path):
    assert shards.problems([_shard(tmp_path, 1), _shard(tmp_path, 2)], 2, "7") == []


@pytest.mark.parametrize(("make", "phrases"), [
    (lambda t: [_shard(t, 1), _shard(t, 2, status=1)],
     ["shard 2/2", "exited with status 1", "/logs/grade-7_2.out", "not finished: shard 2/2"]),
    (lambda t: [_shard(t, 1), t / "2-of-2"], ["2-of-2: not a directory", "not finished: shard 2/2"]),
    (lambda t: [_shard(t, 1), (t / "2-of-2").mkdir() or t / "2-of-2"],
     ["2-of-2: no shard record: its task did not finish", "not finished: shard 2/2"]),
    (lambda t: [_shard(t, 1), _shard(t, 2, run="6")], ["record is from run '6', not from this run '7'"]),
    (lambda t: [_shard(t, 1)], ["not finished: shard 2/2"]),
    (lambda t: [_shard(t, 1), _shard(t, 2, n=3)], ["graded as shard 2 of 3, but this merge expects 2"]),
])
def test_shard_check_names_each_unfinished_shard(tmp_path, make, phrases):
    lines = shards.problems(make(tmp_path), 2, "7")
    text = "\n".join(lines)
    assert all(p in text for p in phrases), text


def test_merge_writes_nothing_when_a_shard_failed(tmp_path, capsys):
    out = tmp_path / "grades"
    dirs = [_shard(tmp_path, 1), _shard(tmp_path, 2, status=3)]
    assert merge.main(["--out", str(out), "--expect-shards", "2", "--run", "7", *map(str, dirs)]) == 1
    assert "shard 2/2" in capsys.readouterr().err and not out.exists()


def test_make_grade_slurm_passes_its_arguments():
    dry = subprocess.run(["make", "-n", "grade-slurm", "TASKS=8", "SUBMISSIONS=subs", "OUT=g",
                          "SBATCH=--partition=short", "GRADE_ARGS=--skip-training"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert "platforms/slurm/submit.sh -n 8 -s subs -o g -a '--partition=short' -- --skip-training" in " ".join(
        dry.split()), dry


def test_a_task_replaces_an_earlier_record_by_its_own_status(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "2-of-2"
    shards.write_record(_shard(tmp_path, 1), (1, 2), 0, "6")
    out.mkdir()
    shards.write_record(out, (2, 2), 0, "6")  # a clean finish of the earlier run
    # relative paths, from a folder other than the kit's; no such submissions folder: nnkit grade exits 2
    status = shards.main(["--run", "7", "--log", "here.out", "--", "--submissions", "missing", "--out", "2-of-2",
                          "--shard", "2/2"])
    assert status == 2
    record = json.loads((out / shards.RECORD).read_text())
    assert (record["shard"], record["status"], record["run"], record["log"]) == ([2, 2], 2, "7", "here.out")
    assert "exited with status 2" in "\n".join(shards.problems([tmp_path / "1-of-2", out], 2, "7"))
