"""Benchmark the kit (`make bench [RUNS=3]`): grader timings per question, batch throughput, cached re-grades, Q3, Q4.

    python bench/run.py --runs 3                      # everything, into bench/results.json and bench/results.md
    python bench/run.py --runs 3 --only grader,cache  # some parts (grader, batch, cache, q3, q4)
    python bench/run.py --smoke --out /tmp/b          # 1 run, q1/q2-only submissions, no training (tests the plumbing)
    python bench/run.py --only class,outputs          # the class benchmark of issue 15 (bench/class_bench.py)

Every figure is the median over ``--runs`` runs with its min and max. The machine may be shared, so the load average
is recorded before and after each part, and ratios compare runs made in the same invocation. Results are rewritten
after each part, so an interrupted run still leaves the parts it finished.

What is measured, per question of the reference submission (one ``pytest`` process per question running its visible
and hidden checks with the grader's plugin, as ``grader.shipping.grade`` does for a whole submission):

* wall: the pytest process, start to exit; CPU: user + system time of pytest and its unsandboxed children
  (``RUSAGE_CHILDREN`` before and after) plus that of the sandboxed workers, read from ``/proc/<pid>/stat`` every
  50 ms (a sandbox's processes are killed before they are reaped, so their time never reaches ``RUSAGE_CHILDREN``;
  the last <= 50 ms of each worker is missed); peak RSS: the largest ``VmHWM`` of a sandboxed worker process and of the
  pytest process, read by polling ``/proc`` every 50 ms.
* the split: imports = the worker's own ``preload`` + ``import`` timings; sandbox start = the median wall time of an
  empty sandboxed worker (``bwrap`` + interpreter + ``import numpy``, measured directly with the grader's sandbox);
  student code = worker wall - sandbox start - imports (it includes the worker decoding the job and encoding its
  reply); trusted checks = pytest wall - worker walls (pytest start-up, collection and the checks themselves).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import class_bench

from grader import registry
from grader.checking.command import checks_command
from nnkit import __version__

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "submissions"
STEMS = registry.stems()
# cheapest first, so a short run still reports something; outputs after class, whose graded class it reuses
PARTS = ("grader", "whole", "cache", "batch", "q4", "q3", "class", "outputs")
COPY_OF = "missing_sigmoid_derivative"

TARGETS = {
    "reference_full": 150.0,       # all four questions including real training, s
    "reference_no_training": 15.0,  # every check except the two training checks, s
    "sandbox_start": 1.0,          # starting a sandboxed worker, s (plus imports)
    "cached_per_submission": 1.0,  # re-grading an unchanged submission, s
    "batch_speedup": 1.7,          # J=2 over J=1
    "q3_speedup": 4.0,             # handout recipe time / reference time, at equal or better accuracy
    "q4_speedup": 1.8,             # transcription time / reference time
    "class_outputs_1000": class_bench.OUTPUTS_TARGET,  # class-level outputs of 1,000 submissions, s
    "class_overhead_ratio": 0.10,  # (CPU - student code CPU) / student code CPU in a class run
}


def stats(values: list[float]) -> dict:
    values = [float(v) for v in values]
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values),
            "values": values}


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class ProcPoller(class_bench.Polling):
    """Polls /proc for the descendants of one process: peak VmHWM per kind, last CPU seconds of the workers."""

    def __init__(self, pid: int, period: float = 0.05):
        super().__init__(period)
        self.pid = pid
        self.peak_kb = {"worker": 0, "root": 0}
        self.worker_cpu: dict[int, float] = {}

    def sample(self):
        parents = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    stat = Path(entry.path, "stat").read_text()
                except OSError:
                    continue
                fields = stat[stat.rindex(")") + 2:].split()
                parents[int(entry.name)] = (int(fields[1]), fields)
        family, grew = {self.pid}, True
        while grew:
            new = {p for p, (pp, _) in parents.items() if pp in family and p not in family}
            family |= new
            grew = bool(new)
        for pid in family:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            m = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
            if not m:
                continue
            kind = "worker" if b"/kit/worker.py" in cmdline else "root" if pid == self.pid else None
            if kind:
                self.peak_kb[kind] = max(self.peak_kb[kind], int(m.group(1)))
            if kind == "worker" and pid in parents:
                fields = parents[pid][1]
                self.worker_cpu[pid] = (int(fields[11]) + int(fields[12])) / self._tick


def run_timed(cmd: list[str], env: dict | None = None, poll: bool = False, timeout: float = 3600) -> dict:
    """Run ``cmd`` from the repository root; wall, CPU of it and its descendants, and (with ``poll``) peak RSS."""
    cpu0 = children_cpu()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    if poll:
        with ProcPoller(proc.pid) as poller:
            out, err = proc.communicate(timeout=timeout)
    else:
        poller = None
        out, err = proc.communicate(timeout=timeout)
    wall = time.perf_counter() - start
    result = {"wall": wall, "cpu": children_cpu() - cpu0, "returncode": proc.returncode, "stdout": out,
              "stderr": err}
    if poller:
        result["peak_rss_mb"] = {k: v / 1024 for k, v in poller.peak_kb.items()}
        result["worker_cpu_polled"] = sum(poller.worker_cpu.values())
    return result


# -- grader: per question of the reference submission ------------------------------------------------------------

def has_training(stem: str) -> bool:
    """Whether a question has checks that train (their marker says training=True)."""
    from grader.checking.inventory import collect

    return any(item.get_closest_marker("check").kwargs.get("training")
               for item in collect(registry.by_stem(stem).check_files()))


def prepare(src: Path, work: Path) -> Path:
    from grader.intake import submission

    dest = work / f"prep-{src.name}"
    shutil.rmtree(dest, ignore_errors=True)  # a reused --work directory
    prepared = submission.prepare(src, src.name, dest)
    return prepared.root


def sandbox_start(n: int) -> dict:
    """Wall time of an empty sandboxed worker: bwrap with the grader's binds, an interpreter and ``import numpy``."""
    from grader.running import runner, sandbox

    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        os.chmod(tmp, 0o755)
        binds = {tmp: "/job", **{str(runner.RUNNING / name): f"/kit/{name}" for name in runner.WORKER_FILES},
                 str(runner.NNKIT): str(runner.NNKIT)}
        out = {}
        for name, code in (("interpreter", "pass"), ("interpreter_numpy", "import numpy, json")):
            walls = []
            for _ in range(n):
                raw = sandbox.run_sandboxed([sys.executable, "-E", "-s", "-B", "-c", code], ro_binds=binds,
                                            env=runner.worker_env(), limits=sandbox.Limits(timeout=60, memory_mb=2048),
                                            hide=runner.hidden_paths())
                if raw.returncode != 0:
                    raise RuntimeError(f"empty sandbox failed: {raw.reason} {raw.stderr[-2000:]}")
                walls.append(raw.wall)
            out[name] = stats(walls)
        out["sandboxed"] = sandbox.bwrap_available()
    return out


def grade_question(root: Path, stem: str, training: bool, work: Path) -> dict:
    record = work / f"record-{stem}-{training}.json"
    cmd = checks_command([registry.by_stem(stem)], root, record, training=training)
    r = run_timed(cmd, env={"PYTHONDONTWRITEBYTECODE": "1"}, poll=True, timeout=1200)
    if r["returncode"] not in (0, 1) or not record.exists():
        raise RuntimeError(f"pytest for {stem} exited with {r['returncode']}:\n{(r['stdout'] + r['stderr'])[-3000:]}")
    rec = json.loads(record.read_text())
    workers = [w for w in rec["workers"] if w.get("started")]
    checks = rec["checks"]
    return {
        "wall": r["wall"], "cpu": r["cpu"], "peak_rss_mb": r["peak_rss_mb"], "worker_cpu": r["worker_cpu_polled"],
        "worker_wall": sum(w["wall"] for w in workers),
        "imports": sum(w["timings"].get("preload", 0) + w["timings"].get("import", 0) for w in workers),
        "workers": len(workers), "sandboxed": all(w.get("sandboxed") for w in workers),
        "score": sum(c["score"] for c in checks), "max_score": sum(c["points"] for c in checks),
        "skipped": sum(c["status"] == "skipped" for c in checks),
    }


def part_grader(args, work: Path) -> dict:
    src = args.reference
    root = prepare(src, work)
    stems = [s for s in STEMS if (root / f"{s}.py").exists()]
    start = sandbox_start(max(args.runs, 3))
    start_s = start["interpreter_numpy"]["median"]
    modes = [(s, False) for s in stems] + [(s, True) for s in stems if has_training(s) and not args.smoke]
    raw: dict[str, list[dict]] = {f"{s}{'+training' if t else ''}": [] for s, t in modes}
    for i in range(args.runs):
        for stem, training in modes:
            r = grade_question(root, stem, training, work)
            r["run"] = i + 1
            raw[f"{stem}{'+training' if training else ''}"].append(r)
            log(f"grader run {i + 1} {stem}{' +training' if training else ''}: wall {r['wall']:.2f} s, cpu "
                f"{r['cpu']:.2f} s, worker peak {r['peak_rss_mb']['worker']:.0f} MB, score {r['score']:g}/{r['max_score']:g}")
    questions = {}
    for key, runs in raw.items():
        questions[key] = {
            "wall": stats([r["wall"] for r in runs]),
            "cpu": stats([r["cpu"] + r["worker_cpu"] for r in runs]),
            "cpu_includes_workers": True,
            "peak_rss_mb_worker": stats([r["peak_rss_mb"]["worker"] for r in runs]),
            "peak_rss_mb_pytest": stats([r["peak_rss_mb"]["root"] for r in runs]),
            "split": {
                "sandbox_start": stats([start_s * r["workers"] for r in runs]),
                "imports": stats([r["imports"] for r in runs]),
                "student_code": stats([max(0.0, r["worker_wall"] - start_s * r["workers"] - r["imports"])
                                       for r in runs]),
                "trusted_checks": stats([r["wall"] - r["worker_wall"] for r in runs]),
            },
            "worker_cpu_polled": stats([r["worker_cpu"] for r in runs]),
            "workers": runs[0]["workers"], "sandboxed": all(r["sandboxed"] for r in runs),
            "score": runs[0]["score"], "max_score": runs[0]["max_score"], "skipped_checks": runs[0]["skipped"],
        }
    no_training = [sum(raw[s][i]["wall"] for s in stems) for i in range(args.runs)]
    result = {"submission": str(src.relative_to(ROOT)) if src.is_relative_to(ROOT) else str(src),
              "sandbox_start": start, "questions": questions,
              "total_no_training": stats(no_training)}
    if any(t for _, t in modes):
        full = [sum(raw[f"{s}+training" if f"{s}+training" in raw else s][i]["wall"] for s in stems)
                for i in range(args.runs)]
        result["total_with_training"] = stats(full)
    return result


def part_whole(args, work: Path) -> dict:
    """The reference as grader.shipping.grade grades it: one pytest process for every check, without the training checks."""
    root = prepare(args.reference, work)
    walls, cpus = [], []
    for i in range(args.runs):
        record = work / "record-whole.json"
        cmd = checks_command(registry.questions(), root, record, training=False)
        r = run_timed(cmd, env={"PYTHONDONTWRITEBYTECODE": "1"}, poll=True, timeout=1200)
        if r["returncode"] not in (0, 1) or not record.exists():
            raise RuntimeError(f"pytest exited with {r['returncode']}:\n{(r['stdout'] + r['stderr'])[-3000:]}")
        walls.append(r["wall"])
        cpus.append(r["cpu"] + r["worker_cpu_polled"])
        log(f"whole run {i + 1}: every check but training in one pytest: wall {r['wall']:.2f} s")
    return {"wall": stats(walls), "cpu": stats(cpus)}


# -- batch throughput and cached re-grades -----------------------------------------------------------------------

def batch_dir(args, work: Path) -> Path:
    d = work / "batch-submissions"
    if d.exists():
        return d
    d.mkdir()
    if args.smoke:
        for name in ("reference", "box_wrong_sign"):  # q1 only: the smoke test checks plumbing, not speed
            (d / name).mkdir()
            shutil.copy(EXAMPLES / name / f"{STEMS[0]}.py", d / name / f"{STEMS[0]}.py")
    else:
        for sub in sorted(EXAMPLES.iterdir()):
            if sub.is_dir():
                shutil.copytree(sub, d / sub.name)
        shutil.copytree(EXAMPLES / COPY_OF, d / f"{COPY_OF}_copy")
    return d


def grade_batch(subs: Path, out: Path, jobs: int, no_cache: bool, skip_training: bool) -> dict:
    cmd = [sys.executable, "-m", "grader.shipping.grade", "--submissions", str(subs), "--out", str(out), "-j", str(jobs)]
    cmd += ["--no-cache"] * no_cache + ["--skip-training"] * skip_training
    r = run_timed(cmd, poll=True, timeout=7200)
    if r["returncode"] != 0:
        raise RuntimeError(f"grader.shipping.grade -j {jobs} exited with {r['returncode']}:\n{(r['stdout'] + r['stderr'])[-3000:]}")
    cached = r["stdout"].count("(cached)")
    return {"wall": r["wall"], "cpu": r["cpu"] + r["worker_cpu_polled"], "cached": cached}


def part_batch(args, work: Path) -> dict:
    subs = batch_dir(args, work)
    n = sum(1 for p in subs.iterdir() if p.is_dir())
    walls = {1: [], 2: []}
    cpus = {1: [], 2: []}
    paired = []
    for i in range(args.runs):
        order = (1, 2) if i % 2 == 0 else (2, 1)  # alternate, so neither gets the quieter slot every time
        this = {}
        for j in order:
            out = work / f"batch-out-j{j}"
            shutil.rmtree(out, ignore_errors=True)
            r = grade_batch(subs, out, j, no_cache=True, skip_training=not args.batch_training)
            this[j] = r["wall"]
            walls[j].append(r["wall"])
            cpus[j].append(r["cpu"])
            log(f"batch run {i + 1} J={j}: {r['wall']:.2f} s for {n} submissions (cpu {r['cpu']:.2f} s)")
        paired.append(this[1] / this[2])
    return {"submissions": n, "names": sorted(p.name for p in subs.iterdir() if p.is_dir()),
            "skip_training": not args.batch_training,
            "j1": {"wall": stats(walls[1]), "cpu": stats(cpus[1]),
                   "submissions_per_minute": stats([60 * n / w for w in walls[1]])},
            "j2": {"wall": stats(walls[2]), "cpu": stats(cpus[2]),
                   "submissions_per_minute": stats([60 * n / w for w in walls[2]])},
            "speedup_ratio_of_medians": statistics.median(walls[1]) / statistics.median(walls[2]),
            "speedup_paired": stats(paired), "cpu_includes_workers": True}


def part_cache(args, work: Path) -> dict:
    subs = batch_dir(args, work)
    n = sum(1 for p in subs.iterdir() if p.is_dir())
    out = work / "cache-out"
    shutil.rmtree(out, ignore_errors=True)
    first = grade_batch(subs, out, 2, no_cache=True, skip_training=not args.batch_training)
    log(f"cache: first grading {first['wall']:.2f} s")
    totals = []
    for i in range(args.runs):
        r = grade_batch(subs, out, 2, no_cache=False, skip_training=not args.batch_training)
        if r["cached"] != n:
            # the cache key covers every grader/*.py: a file changed by someone else invalidates it; grade once more
            log(f"cache run {i + 1}: only {r['cached']} of {n} cached (grader files changed?); retrying")
            r = grade_batch(subs, out, 2, no_cache=False, skip_training=not args.batch_training)
        if r["cached"] != n:
            raise RuntimeError(f"expected {n} cached submissions, got {r['cached']}")
        totals.append(r["wall"])
        log(f"cache run {i + 1}: {r['wall']:.2f} s for {n} cached submissions")
    single = work / "batch-single"
    if not single.exists():
        single.mkdir()
        shutil.copytree(subs / sorted(p.name for p in subs.iterdir() if p.is_dir())[0], single / "one")
    out1 = work / "cache-out-single"
    shutil.rmtree(out1, ignore_errors=True)
    grade_batch(single, out1, 1, no_cache=True, skip_training=True)
    one = []
    for _ in range(args.runs):
        r = grade_batch(single, out1, 1, no_cache=False, skip_training=True)
        if r["cached"] != 1:
            r = grade_batch(single, out1, 1, no_cache=False, skip_training=True)
        if r["cached"] != 1:
            raise RuntimeError("the single submission was not cached on re-run")
        one.append(r["wall"])
    return {"submissions": n, "first_grading_wall": first["wall"], "total": stats(totals),
            "per_submission": stats([t / n for t in totals]), "single_submission_rerun": stats(one),
            "note": "whole `python -m grader.shipping.grade` process (interpreter start-up, imports, digests, gradebook, junit, "
                    "similarity report) on a directory whose every submission is already graded"}


# -- Q3 and Q4: reference against the handout ---------------------------------------------------------------------

def part_q3(args, work: Path) -> dict:
    js = work / "q3.json"
    cmd = [sys.executable, str(ROOT / "scripts" / "measure_q3.py"), "--seeds", "0", "--repeats", str(args.runs),
           "--handout", "--handout-seeds", "0", "--report", str(work / "q3.md"), "--json", str(js)]
    r = run_timed(cmd, timeout=7200)
    if r["returncode"] != 0:
        raise RuntimeError(f"measure_q3 failed:\n{r['stderr'][-3000:]}")
    results = json.loads(js.read_text())
    ref = [x for x in results if x["recipe"] == "reference"]
    hand = [x for x in results if x["recipe"] == "handout"]
    ref_t = stats([x["train_seconds"] for x in ref])
    hand_t = stats([x["train_seconds"] for x in hand])
    ref_acc = stats([x["accuracy"] for x in ref])
    hand_acc = stats([x["accuracy"] for x in hand])
    return {"command": " ".join(["python", *map(str, cmd[1:])]).replace(str(ROOT) + "/", ""),
            "seed": 0, "reference": {"train_seconds": ref_t, "cpu_seconds": stats([x["cpu_seconds"] for x in ref]),
                                     "accuracy": ref_acc, "epochs": ref[0]["epochs"]},
            "handout": {"train_seconds": hand_t, "cpu_seconds": stats([x["cpu_seconds"] for x in hand]),
                        "accuracy": hand_acc, "epochs": hand[0]["epochs"], "best_epoch": hand[0]["best_epoch"]},
            "speedup": hand_t["median"] / ref_t["median"],
            "accuracy_equal_or_better": ref_acc["median"] >= hand_acc["median"]}


def part_q4(args, work: Path) -> dict:
    cmd = [sys.executable, str(ROOT / "scripts" / "measure_q4.py"), "--runs", str(max(3, args.runs)),
           "--coretypes", "", "--out", str(work / "q4.md")]
    r = run_timed(cmd, timeout=7200)
    if r["returncode"] != 0:
        raise RuntimeError(f"measure_q4 failed:\n{(r['stdout'] + r['stderr'])[-3000:]}")
    modes = {}
    for line in r["stdout"].splitlines():
        m = re.match(r"(.+) run \d+: reference ([\d.]+) s, transcription ([\d.]+) s", line)
        if m:
            mode = modes.setdefault(m.group(1), {"ref": [], "tr": []})
            mode["ref"].append(float(m.group(2)))
            mode["tr"].append(float(m.group(3)))
        m = re.match(r"(.+): outputs (IDENTICAL|DIFFER)", line)
        if m:
            modes[m.group(1)]["identical"] = m.group(2) == "IDENTICAL"
    out = {}
    for label, m in modes.items():
        key = "handout" if label.startswith("--handout") else "default"
        out[key] = {"label": label, "reference_seconds": stats(m["ref"]), "transcription_seconds": stats(m["tr"]),
                    "speedup_ratio_of_medians": statistics.median(m["tr"]) / statistics.median(m["ref"]),
                    "speedup_paired": stats([t / f for f, t in zip(m["ref"], m["tr"])]),
                    "outputs_identical": m.get("identical", False)}
    return {"command": f"python scripts/measure_q4.py --runs {max(3, args.runs)} --coretypes ''", "modes": out,
            "printed": (work / "q4.md").read_text() if (work / "q4.md").exists() else ""}


# -- targets and reports ------------------------------------------------------------------------------------------

def targets(parts: dict) -> list[dict]:
    rows = []

    def add(name, target, figure, met, detail=""):
        rows.append({"name": name, "target": target, "figure": figure, "met": met, "detail": detail})

    w = parts.get("whole")
    if w:
        v = w["wall"]["median"]
        add("reference, every check except the two training checks", f"<= {TARGETS['reference_no_training']:g} s",
            f"{v:.1f} s", v <= TARGETS["reference_no_training"], "one pytest process, as grader.shipping.grade runs it")
    g = parts.get("grader")
    if g and "total_with_training" in g:
        v = g["total_with_training"]["median"]
        add("reference, all four questions with training", f"<= {TARGETS['reference_full']:g} s", f"{v:.1f} s",
            v <= TARGETS["reference_full"], "sum of the per-question pytest walls (4 pytest start-ups, not 1)")
    if g and not w:
        v = g["total_no_training"]["median"]
        add("reference, every check except the two training checks", f"<= {TARGETS['reference_no_training']:g} s",
            f"{v:.1f} s", v <= TARGETS["reference_no_training"], "sum of the per-question pytest walls")
    if g:
        s = g["sandbox_start"]["interpreter_numpy"]["median"]
        add("starting a sandboxed worker (before student imports)", f"<= {TARGETS['sandbox_start']:g} s",
            f"{s:.2f} s", s <= TARGETS["sandbox_start"], "bwrap + interpreter + import numpy, empty job")
    c = parts.get("cache")
    if c:
        v = c["single_submission_rerun"]["median"]
        add("re-running on an unchanged submission", f"<= {TARGETS['cached_per_submission']:g} s", f"{v:.2f} s",
            v <= TARGETS["cached_per_submission"], "whole grader.shipping.grade process, one cached submission")
        v = c["per_submission"]["median"]
        add(f"cached batch re-grade, per submission ({c['submissions']})",
            f"<= {TARGETS['cached_per_submission']:g} s", f"{v:.2f} s (total {c['total']['median']:.2f} s)",
            v <= TARGETS["cached_per_submission"])
    b = parts.get("batch")
    if b:
        v = b["speedup_ratio_of_medians"]
        add(f"batch of {b['submissions']}, J=2 speed-up over J=1", f">= {TARGETS['batch_speedup']:g}x",
            f"{v:.2f}x (paired median {b['speedup_paired']['median']:.2f}x)", v >= TARGETS["batch_speedup"],
            "--skip-training" if b["skip_training"] else "with training")
    q3 = parts.get("q3")
    if q3:
        v = q3["speedup"]
        add("Q3 reference vs handout recipe", f">= {TARGETS['q3_speedup']:g}x faster at equal or better accuracy",
            f"{v:.2f}x; accuracy {q3['reference']['accuracy']['median']:.2%} vs {q3['handout']['accuracy']['median']:.2%}",
            v >= TARGETS["q3_speedup"] and q3["accuracy_equal_or_better"])
    q4 = parts.get("q4")
    if q4:
        for key, m in q4["modes"].items():
            v = m["speedup_ratio_of_medians"]
            add(f"Q4 reference vs transcription ({key})", f">= {TARGETS['q4_speedup']:g}x, identical output",
                f"{v:.2f}x (paired median {m['speedup_paired']['median']:.2f}x); output "
                f"{'identical' if m['outputs_identical'] else 'DIFFERENT'}",
                v >= TARGETS["q4_speedup"] and m["outputs_identical"])
    cl = parts.get("class")
    if cl:
        for j, r in cl["jobs"].items():
            v = r["overhead_ratio"]
            add(f"class of {cl['class_size']}, J={j}: CPU beyond the student code's", f"<= {TARGETS['class_overhead_ratio']:.0%}",
                "n/a" if v is None else f"{v:.0%} of {r['student_code_cpu']:.0f} s",
                v is not None and v <= TARGETS["class_overhead_ratio"],
                "--skip-training" if cl["skip_training"] else "with training")
            stops = r["budget_stops"] + r["killed_at_limit"] + r["worker_timeouts"] + r["worker_cpu_limit"] + r[
                "submission_timeouts"]
            add(f"class of {cl['class_size']}, J={j}: budget stops and timeouts", "0", str(stops), stops == 0)
    o = parts.get("outputs")
    if o:
        last = o["sizes"][-1]
        v = last["seconds"]["median"]
        add(f"class-level outputs of {last['submissions']} synthetic submissions",
            f"<= {TARGETS['class_outputs_1000']:g} s at 1000, about linear", f"{v:.1f} s; growth {o['growth_ratio']:.2f}x "
            f"for {o['size_ratio']:g}x the submissions", v <= TARGETS["class_outputs_1000"]
            and o["growth_ratio"] <= 1.5 * o["size_ratio"])
    return rows


def fmt(s: dict, unit: str = "s", digits: int = 2) -> str:
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}-{s['max']:.{digits}f}){unit and ' ' + unit}"


def markdown(res: dict) -> str:
    L = ["# Benchmark results", "",
         f"Written by `{res['command']}`; rerun it rather than editing this file. Figures are medians over "
         f"{res['runs']} runs, with (min-max).", "",
         f"- date: {res['date']}", f"- kit version: {res['kit_version']}",
         f"- machine: {res['cores']} CPU cores, {res['platform']}; Python {res['python']}",
         f"- load average (1, 5, 15 min) before: {res['load_average']['before']}, after: "
         f"{res['load_average']['after']} (per part in results.json)", ""]
    L += ["## Targets", "", "| target | goal | measured | met |", "|---|---|---|---|"]
    for t in res["targets"]:
        L.append(f"| {t['name']}{' (' + t['detail'] + ')' if t['detail'] else ''} | {t['target']} | {t['figure']} | "
                 f"{'met' if t['met'] else '**missed**'} |")
    L.append("")
    p = res["parts"]
    if "grader" in p:
        g = p["grader"]
        L += ["## Grader, reference submission, per question", "",
              "One pytest process per question (visible + hidden checks). Split: sandbox start = empty sandboxed "
              "worker (measured directly) per worker; imports = the worker's preload + student-module import; "
              "student code = worker wall minus those; trusted checks = pytest wall minus worker walls. Peak RSS: "
              "largest VmHWM of a worker / of pytest, polled from /proc every 50 ms.", "",
              f"Empty sandboxed worker: interpreter {fmt(g['sandbox_start']['interpreter'])}, "
              f"+ import numpy {fmt(g['sandbox_start']['interpreter_numpy'])} "
              f"(bubblewrap: {'yes' if g['sandbox_start']['sandboxed'] else 'NO'}).", "",
              "| question | wall | CPU | sandbox start | imports | student code | trusted checks | worker peak RSS | "
              "pytest peak RSS | score |", "|---|---|---|---|---|---|---|---|---|---|"]
        for key, q in g["questions"].items():
            sp = q["split"]
            L.append(f"| {key} | {fmt(q['wall'])} | {fmt(q['cpu'])} | {fmt(sp['sandbox_start'])} | "
                     f"{fmt(sp['imports'])} | {fmt(sp['student_code'])} | {fmt(sp['trusted_checks'])} | "
                     f"{fmt(q['peak_rss_mb_worker'], 'MB', 0)} | {fmt(q['peak_rss_mb_pytest'], 'MB', 0)} | "
                     f"{q['score']:g} / {q['max_score']:g}{' (' + str(q['skipped_checks']) + ' skipped)' if q['skipped_checks'] else ''} |")
        L += ["", f"Sum of the per-question walls without training: {fmt(g['total_no_training'])}"
              + (f"; with training: {fmt(g['total_with_training'])}" if "total_with_training" in g else ""), ""]
    if "whole" in p:
        L += ["## Grader, reference submission, all checks but training in one pytest process", "",
              f"wall {fmt(p['whole']['wall'])}, CPU {fmt(p['whole']['cpu'])}", ""]
    if "batch" in p:
        b = p["batch"]
        L += ["## Batch throughput", "",
              f"`python -m grader.shipping.grade --no-cache{' --skip-training' if b['skip_training'] else ''} -j J` on "
              f"{b['submissions']} submissions ({', '.join(b['names'])}); J=1 and J=2 alternate within each run.", "",
              "| J | wall | CPU" + ("" if b.get("cpu_includes_workers") else " (grader side only, without the "
                                         "sandboxed workers)") + " | submissions / minute |", "|---|---|---|---|",
              f"| 1 | {fmt(b['j1']['wall'])} | {fmt(b['j1']['cpu'])} | {fmt(b['j1']['submissions_per_minute'], '', 1)} |",
              f"| 2 | {fmt(b['j2']['wall'])} | {fmt(b['j2']['cpu'])} | {fmt(b['j2']['submissions_per_minute'], '', 1)} |",
              "", f"Speed-up J=2 over J=1: {b['speedup_ratio_of_medians']:.2f}x (ratio of medians); paired "
              f"{fmt(b['speedup_paired'], 'x')}.", ""]
    if "cache" in p:
        c = p["cache"]
        L += ["## Cached re-grade", "", c["note"] + ".", "",
              f"- {c['submissions']} cached submissions: total {fmt(c['total'])}, per submission "
              f"{fmt(c['per_submission'])} (first grading {c['first_grading_wall']:.1f} s)",
              f"- one cached submission: {fmt(c['single_submission_rerun'])}", ""]
    if "q3" in p:
        q = p["q3"]
        L += ["## Q3: reference vs handout recipe", "", f"`{q['command']}` (train_model wall time only).", "",
              "| recipe | train time | CPU | test accuracy | epochs |", "|---|---|---|---|---|",
              f"| reference (batch 512, 40 epochs) | {fmt(q['reference']['train_seconds'])} | "
              f"{fmt(q['reference']['cpu_seconds'])} | {q['reference']['accuracy']['median']:.2%} | {q['reference']['epochs']} |",
              f"| handout (batch 32, early stopping on the test set) | {fmt(q['handout']['train_seconds'])} | "
              f"{fmt(q['handout']['cpu_seconds'])} | {q['handout']['accuracy']['median']:.2%} | "
              f"{q['handout']['epochs']} (best {q['handout']['best_epoch']}) |", "",
              f"Speed-up: {q['speedup']:.2f}x.", ""]
    if "q4" in p:
        q = p["q4"]
        L += ["## Q4: reference vs literal transcription", "", f"`{q['command']}` (whole-process wall time).", "",
              "| mode | reference | transcription | speed-up (medians) | paired | printed output |",
              "|---|---|---|---|---|---|"]
        for key, m in q["modes"].items():
            L.append(f"| {m['label']} | {fmt(m['reference_seconds'])} | {fmt(m['transcription_seconds'])} | "
                     f"{m['speedup_ratio_of_medians']:.2f}x | {fmt(m['speedup_paired'], 'x')} | "
                     f"{'identical' if m['outputs_identical'] else 'DIFFERENT'} |")
        L.append("")
    if "class" in p:
        L += class_markdown(p["class"])
    if "outputs" in p:
        L += outputs_markdown(p["outputs"])
    if res.get("errors"):
        L += ["## Parts that failed", ""] + [f"- {k}: {v.splitlines()[0] if v else ''}" for k, v in res["errors"].items()] + [""]
    if res.get("notes"):
        L += ["## What bounds the missed targets", ""] + [res["notes"].rstrip(), ""]
    return "\n".join(L)


def class_markdown(cl: dict) -> list[str]:
    L = ["## Class benchmark: a generated class graded at J=1 and J=2", "",
         f"{cl['class_size']} submissions written by `bench/class_bench.py` (profiles in results.json: Q3 mostly the "
         f"handout's recipe, Q4 mostly the handout's per-sample step, some mistakes), graded"
         + (" with --skip-training" if cl["skip_training"] else " with training") + ". CPU = RUSAGE_CHILDREN + the "
         "sandboxed workers polled from /proc. Student code CPU = each worker's CPU as record.json keeps it, minus "
         "an empty worker's of the same question (" + ", ".join(f"{s} {c:.2f} s" for s, c in
                                                                cl["empty_worker_cpu"].items()) + "). Overhead "
         "ratio = (CPU - student code CPU) / student code CPU; per submission, CPU = its pytest process (with the "
         "children it reaped) + its workers.", "",
         "| J | wall | CPU | student code CPU | overhead ratio | per submission (median, min-max) | submissions / "
         "minute | budget stops | killed at the limit | worker timeouts | CPU-limit kills | submission timeouts |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for j, r in cl["jobs"].items():
        ps = r["per_submission_overhead_ratio"]
        L.append(f"| {j} | {r['wall']:.1f} s | {r['cpu']:.1f} s | {r['student_code_cpu']:.1f} s | "
                 f"{'n/a' if r['overhead_ratio'] is None else format(r['overhead_ratio'], '.2f')} | "
                 f"{'n/a' if ps is None else fmt(ps, '')} | {r['submissions_per_minute']:.2f} | {r['budget_stops']} | "
                 f"{r['killed_at_limit']} | {r['worker_timeouts']} | {r['worker_cpu_limit']} | "
                 f"{r['submission_timeouts']} |")
    L += ["", "Command per J: " + "; ".join(f"`{r['command']}`" for r in cl["jobs"].values()), ""]
    return L


def outputs_markdown(o: dict) -> list[str]:
    comps = sorted({k for r in o["sizes"] for k in r["components"]})
    L = ["## Class-level outputs on synthetic submissions", "",
         f"`grade.write_class_outputs` on fabricated OUT folders (templates: {o['templates_from']}). Seconds per "
         f"size, and split by component (medians).", "",
         "| submissions | seconds | CPU seconds | per submission | flagged pairs | " + " | ".join(comps) + " |",
         "|---|---|---|---|---|" + "---|" * len(comps)]
    for r in o["sizes"]:
        L.append(f"| {r['submissions']} | {fmt(r['seconds'])} | {fmt(r['cpu_seconds'])} | "
                 f"{1000 * r['seconds']['median'] / r['submissions']:.1f} ms"
                 f" | {r['flagged_pairs']} | " + " | ".join(f"{r['components'].get(k, 0):.2f} s" for k in comps) + " |")
    L += ["", f"Growth: {o['growth_ratio']:.2f}x the time ({o['cpu_growth_ratio']:.2f}x the CPU) for "
          f"{o['size_ratio']:g}x the submissions (target under "
          f"{o['target_seconds']:g} s at 1,000, about linear).", ""]
    return L


def log(msg: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", flush=True)


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def jobs_list(text: str) -> list[int]:
    """``"1,2"`` as ``[1, 2]``: positive whole numbers, each once."""
    values = [positive(t.strip()) for t in text.split(",") if t.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive whole numbers, got {text!r}")
    return list(dict.fromkeys(values))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (medians over them; default 3)")
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts to run, from {','.join(PARTS)} (default all)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench", help="where results.json/.md go (default bench/)")
    parser.add_argument("--work", type=Path, help="scratch directory (default: a temporary one)")
    parser.add_argument("--reference", type=Path, default=EXAMPLES / "reference",
                        help="the submission the grader part measures")
    parser.add_argument("--batch-training", action="store_true",
                        help="run the training checks in the batch and cache parts (default --skip-training)")
    parser.add_argument("--notes", type=Path, help="Markdown file explaining missed targets, included in results.md")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other parts of the results.json already in --out (to add or redo parts)")
    parser.add_argument("--render", action="store_true",
                        help="only rewrite results.md from the results.json in --out (e.g. after editing --notes)")
    parser.add_argument("--class-size", type=positive, default=20,
                        help="submissions in the class part (default 20)")
    parser.add_argument("--jobs", type=jobs_list, default=[1, 2],
                        help="comma-separated J values the class part grades at (default 1,2)")
    parser.add_argument("--skip-training", action="store_true",
                        help="class part without the training checks (a plumbing run)")
    parser.add_argument("--sizes", type=jobs_list, default=list(class_bench.DEFAULT_SIZES),
                        help="class sizes the outputs part fabricates and times (default 125,250,500,1000)")
    parser.add_argument("--templates", type=Path, metavar="OUT",
                        help="outputs part: a graded OUT folder whose submissions the synthetic class is made from")
    parser.add_argument("--smoke", action="store_true",
                        help="test the plumbing: 1 run, q1/q2-only submissions, no training, parts grader,batch,cache")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    if bad := set(parts) - set(PARTS):
        parser.error(f"unknown parts {sorted(bad)}; choose from {','.join(PARTS)}")
    if args.smoke:
        args.runs = 1
        parts = [p for p in parts if p in ("grader", "batch", "cache")]
        work0 = Path(tempfile.mkdtemp(prefix="bench-"))
        ref = work0 / "reference"
        ref.mkdir()
        for stem in STEMS[:2]:
            shutil.copy(EXAMPLES / "reference" / f"{stem}.py", ref / f"{stem}.py")
        args.reference = ref
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    args.reference = args.reference.resolve()
    if args.render:
        res = json.loads((args.out / "results.json").read_text())
        if args.notes and args.notes.exists():
            res["notes"] = args.notes.read_text()
        res["targets"] = targets(res["parts"])
        write(res, args.out)
        return 0

    command = "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    res = {"command": command.strip(), "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
           "kit_version": __version__, "cores": os.cpu_count(), "platform": platform.platform(),
           "python": platform.python_version(), "runs": args.runs, "smoke": args.smoke, "parts_requested": parts,
           "load_average": {"before": load_average(), "after": None, "per_part": {}},
           "targets_goal": TARGETS, "parts": {}, "errors": {}, "targets": []}
    if args.notes and args.notes.exists():
        res["notes"] = args.notes.read_text()
    if args.merge and (args.out / "results.json").exists():
        old = json.loads((args.out / "results.json").read_text())
        res["parts"] = {k: v for k, v in old["parts"].items() if k not in parts}
        res["errors"] = {k: v for k, v in old.get("errors", {}).items() if k not in parts}
        res["load_average"]["per_part"] = {k: v for k, v in old["load_average"]["per_part"].items() if k not in parts}
        res["command"] = f"{old['command']}; then {res['command']}"
        res.setdefault("notes", old.get("notes"))
        res["runs"] = min(res["runs"], old["runs"])
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-work-"))
    work.mkdir(parents=True, exist_ok=True)
    funcs = {"grader": part_grader, "whole": part_whole, "batch": part_batch, "cache": part_cache, "q3": part_q3,
             "q4": part_q4, "class": class_bench.part_class, "outputs": class_bench.part_outputs}
    try:
        for part in [p for p in PARTS if p in parts]:
            before = load_average()
            t0 = time.perf_counter()
            log(f"part {part}: start (load {before})")
            try:
                res["parts"][part] = funcs[part](args, work)
            except Exception as exc:  # one failed part must not lose the others
                res["errors"][part] = f"{type(exc).__name__}: {exc}"
                log(f"part {part} FAILED: {exc}")
            res["load_average"]["per_part"][part] = {"before": before, "after": load_average(),
                                                     "seconds": time.perf_counter() - t0}
            res["load_average"]["after"] = load_average()
            res["targets"] = targets(res["parts"])
            write(res, args.out)
            log(f"part {part}: done in {time.perf_counter() - t0:.0f} s; wrote {args.out / 'results.json'}")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
        if args.smoke:
            shutil.rmtree(args.reference.parent, ignore_errors=True)
    for t in res["targets"]:
        print(f"{'met   ' if t['met'] else 'MISSED'}  {t['name']}: {t['figure']} (goal {t['target']})")
    return 1 if res["errors"] else 0


def write(res: dict, out: Path) -> None:
    for name, text in (("results.json", json.dumps(res, indent=1) + "\n"), ("results.md", markdown(res))):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / name)


if __name__ == "__main__":
    sys.exit(main())
