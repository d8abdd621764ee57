"""Class-scale benchmark (issue 15): a realistic class graded at J=1 and J=2, and the class-level outputs at 1,000.

    python bench/class_bench.py                                   # both parts, into bench/results.{json,md}
    python bench/class_bench.py --only class --class-size 2       # a small class, with training
    python bench/class_bench.py --only outputs --sizes 125,1000   # the class-level outputs only
    python bench/run.py --only class,outputs ...                  # the same parts, from the main driver

This file is a front for ``bench/run.py --only class,outputs``: every option of run.py applies (``--out``,
``--work``, ``--merge``, ``--runs``).

Part ``class``. :func:`make_class` writes ``--class-size`` submissions (default 20) from ``solutions/``: Q1 and Q2
as in the reference, some with a mistake taken from ``examples/submissions/`` (which ``scripts/make_examples.py``
generates from the solutions); Q3 with ``train_model`` rewritten to the handout's recipe (batch 32, early stopping
on ``val_loss`` with patience 5, at most 50 epochs, the validation data split off the training set) for most and
the reference's for every fifth; Q4 with the handout's per-sample step (``bench/handout_q4.py``'s ``train_one``)
for most, the reference or a mistake for the others; the Q1 and Q2 notebooks with written answers. The class is
graded by ``python -m grader.shipping.grade --no-cache -j J`` for each J of ``--jobs`` (default 1,2). Recorded:

* wall and CPU of the whole grading: CPU = ``RUSAGE_CHILDREN`` (the grader, its pytest processes and what they
  reap) plus the sandboxed workers' CPU polled from ``/proc`` (as bench/run.py measures it);
* student code CPU: for every sandboxed worker, the CPU its process tree used as the sandbox recorded it in
  ``OUT/<id>/record.json``, minus the CPU of an empty worker of the same question (interpreter, the question's
  ``preload`` imports, no student module), measured in the same sandbox by this benchmark. Everything else
  (pytest, the trusted checks, starting sandboxes, the preloaded imports, intake, reports) is overhead:
  ``overhead ratio = (CPU - student code CPU) / student code CPU``, for the whole class and per submission (there
  CPU = that submission's pytest process, polled from ``/proc`` with the children it reaped, plus its workers);
* budget stops and timeouts, read from the results: a check output saying "stopped at the budget" (the graceful
  stop of grader.running.budget) or "stopped by the grader's limit" (killed at the hard CPU limit, the epochs
  reached graded), a worker whose reason says it timed out or hit the CPU limit (record.json), and a submission
  the grader gave up on ("grading took longer than").

Part ``outputs``. Fabricates graded OUT folders for ``--sizes`` (default 125,250,500,1000) synthetic students from
real graded templates (``--templates OUT``, else the ``class`` part's output when it ran in this invocation, else
a small class graded with ``--skip-training``): results.json, record.json and meta.json with scores redrawn per student, answers.json with
written answers, plots, and ``submission/`` holding each template's files with statements inserted at random
(about one in fifty students copies another's files, renamed). Then it times ``grade.write_class_outputs`` (every
feedback page, gradebook.csv, junit.xml, the written pages, similarity.html), split by component, for each size.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import random
import re
import shutil
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat

from grader import registry

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "submissions"
SOLUTIONS = ROOT / "solutions"
ASSIGNMENTS = ROOT / "assignments"
DEFAULT_SIZES = (125, 250, 500, 1000)
OUTPUTS_TARGET = 60.0  # seconds for the class-level outputs of 1,000 submissions


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stem_of(label: str) -> str:
    return next(q.stem for q in registry.questions() if q.label == label)


# -- the class ------------------------------------------------------------------------------------------------------

# train_model in the handout's way, written for this benchmark: the validation data come from the training set
HANDOUT_FIT = '''\
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights={restore})
    fitted = model.fit(x_train, y_train, batch_size=32, epochs=50, validation_split={split},
                       callbacks=[stopper], verbose=2)
    return fitted.history
'''

# evaluate one image at a time, as the handout's evaluation loop does
LOOPED_EVALUATE = '''\
    losses, n_correct = [], 0
    for i in range(len(y)):
        probabilities = forward(weights, biases, x[i:i + 1])[0]
        losses.append(cross_entropy_loss(integer_to_one_hot(y[i], 10), probabilities))
        n_correct += int(np.argmax(probabilities) == y[i])
    return float(np.average(losses)), n_correct
'''


def _function_region(text: str, function: str, body: str) -> str:
    """``text`` with the solution region of ``function`` replaced by ``body`` (markers dropped)."""
    start = text.index(f"\ndef {function}(")
    begin = text.index("    # BEGIN SOLUTION\n", start)
    end = text.index("    # END SOLUTION\n", begin) + len("    # END SOLUTION\n")
    return text[:begin] + body + text[end:]


def _without_top_level_region(text: str, starting: str) -> str:
    """``text`` without the top-level solution region whose first line is ``starting``."""
    begin = text.index(f"# BEGIN SOLUTION\n{starting}")
    end = text.index("# END SOLUTION\n", begin) + len("# END SOLUTION\n")
    return text[:begin] + text[end:]


def handout_q3(text: str, split: float, restore: bool) -> str:
    return _function_region(text, "train_model", HANDOUT_FIT.format(split=split, restore=restore))


def handout_q4(text: str, looped_evaluate: bool) -> str:
    """The Q4 reference with the handout's per-sample step (bench/handout_q4.py) as ``train_one_sample``."""
    transcription = _load("handout_q4", ROOT / "bench" / "handout_q4.py")
    source = inspect.getsource(transcription.train_one)
    body = source[source.index("\n") + 1:]
    step = "    image, label = x, y\n" + body + "    return float(cross_entropy_loss(target, a3))\n"
    text = _function_region(text, "train_one_sample", step)
    text = _without_top_level_region(text, "def _sigmoid(")
    if looped_evaluate:
        text = _function_region(text, "evaluate", LOOPED_EVALUATE)
    return text


def _notebook(stem: str, student: int, rng: random.Random) -> str:
    """The stub notebook of ``stem`` with every answer cell filled in."""
    nb = nbformat.read(ASSIGNMENTS / f"{stem}.ipynb", as_version=4)
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "markdown" and any(t.startswith("answer:") for t in tags):
            cell.source = _answer_text(rng, student)
    return nbformat.writes(nb)


WORDS = ("the step function makes a box from two units so the width is set by the gap between thresholds and the "
         "height by the output weight while the softmax Jacobian is diagonal minus an outer product whose rows "
         "sum to zero because probabilities always add up to one").split()


def _answer_text(rng: random.Random, student: int) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(15, 80))]
    return f"Student {student}: " + " ".join(words) + f". With $h = {rng.randint(1, 9)}$ the bound holds."


def make_class(dest: Path, size: int, seed: int = 15) -> list[dict]:
    """Write ``size`` submissions into ``dest`` and return what each one holds (a profile per student)."""
    strip = _load("make_examples", ROOT / "scripts" / "make_examples.py").strip_markers
    ref = {label: (SOLUTIONS / f"{stem_of(label)}.py").read_text(encoding="utf-8") for label in ("q1", "q2", "q3", "q4")}
    rng = random.Random(seed)
    profiles = []
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(size):
        sid = f"student{i + 1:02d}"
        files: dict[str, str] = {}
        profile = {"id": sid}
        if i % 7 == 3:
            profile["q1"] = "box_wrong_sign"
            files["q1"] = (EXAMPLES / "box_wrong_sign" / f"{stem_of('q1')}.py").read_text(encoding="utf-8")
        else:
            profile["q1"] = "reference"
            files["q1"] = strip(ref["q1"])
        if i % 9 == 4:
            profile["q2"] = "exp_jacobian"
            files["q2"] = (EXAMPLES / "exp_jacobian" / f"{stem_of('q2')}.py").read_text(encoding="utf-8")
        elif i % 6 == 5:
            profile["q2"] = "softmax_without_shift"
            files["q2"] = strip(ref["q2"]).replace("    e = np.exp(z - z.max())\n", "    e = np.exp(z)\n", 1)
        else:
            profile["q2"] = "reference"
            files["q2"] = strip(ref["q2"])
        if i % 5 == 0:
            profile["q3"] = "reference"
            files["q3"] = strip(ref["q3"])
        else:
            split, restore = rng.choice((0.1, 0.2)), rng.random() < 0.7
            profile["q3"] = f"handout (validation_split={split}, restore_best_weights={restore})"
            files["q3"] = strip(handout_q3(ref["q3"], split, restore))
        if i % 4 == 0:
            profile["q4"] = "reference"
            files["q4"] = strip(ref["q4"])
        elif i % 10 in (7, 9):
            mistake = "init_fan_in" if i % 10 == 7 else "missing_sigmoid_derivative"
            profile["q4"] = mistake
            files["q4"] = (EXAMPLES / mistake / f"{stem_of('q4')}.py").read_text(encoding="utf-8")
        else:
            looped = i % 3 == 0
            profile["q4"] = "handout per-sample step" + (", per-image evaluate" if looped else "")
            files["q4"] = strip(handout_q4(ref["q4"], looped))
        d = dest / sid
        d.mkdir()
        for label, text in files.items():
            (d / f"{stem_of(label)}.py").write_text(text, encoding="utf-8")
        for label in ("q1", "q2"):
            (d / f"{stem_of(label)}.ipynb").write_text(_notebook(stem_of(label), i + 1, rng), encoding="utf-8")
        profiles.append(profile)
    return profiles


# -- reading the graded class ---------------------------------------------------------------------------------------

STOP_BUDGET = "stopped at the budget"
STOP_KILLED = "stopped by the grader's limit"


def stops_and_timeouts(out: Path, grader_output: str) -> dict:
    """Budget stops and timeouts recorded in a graded OUT folder (and the grader's own output)."""
    found = {"budget_stops": [], "killed_at_limit": [], "worker_timeouts": [], "worker_cpu_limit": [],
             "submission_timeouts": re.findall(r"^\s*(\S+)\s+GRADER ERROR\s+grading took longer than", grader_output,
                                               re.M)}
    for sub in sorted(p for p in out.iterdir() if (p / "results.json").is_file()):
        results = json.loads((sub / "results.json").read_text())
        for test in results["tests"]:
            output = test.get("output") or ""
            if STOP_BUDGET in output:
                found["budget_stops"].append(f"{sub.name}: {test['name']}")
            if STOP_KILLED in output:
                found["killed_at_limit"].append(f"{sub.name}: {test['name']}")
        record = json.loads((sub / "record.json").read_text())
        for w in record["workers"]:
            reason = w.get("reason") or ""
            if "timed out" in reason:
                found["worker_timeouts"].append(f"{sub.name}: {w['stem']} {w.get('group')}: {reason}")
            if "CPU limit" in reason:
                found["worker_cpu_limit"].append(f"{sub.name}: {w['stem']} {w.get('group')}: {reason}")
    return {**{k: len(v) for k, v in found.items()}, "details": found}


def empty_worker_cpu(runs: int = 2) -> dict[str, float]:
    """Median CPU seconds of an empty sandboxed worker per question: interpreter, numpy and the question's preload."""
    import os
    import tempfile

    from grader.running import runner, sandbox

    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-empty-") as tmp:
        os.chmod(tmp, 0o755)
        binds = {tmp: "/job", **{str(runner.RUNNING / name): f"/kit/{name}" for name in runner.WORKER_FILES},
                 str(runner.NNKIT): str(runner.NNKIT)}
        by_preload: dict[tuple, float] = {}
        for q in registry.questions():
            preload = tuple(q.preload)
            if preload not in by_preload:
                code = "import numpy, json" + "".join(f", {name}" for name in preload)
                cpus = []
                for _ in range(runs):
                    raw = sandbox.run_sandboxed([sys.executable, "-E", "-s", "-B", "-c", code], ro_binds=binds,
                                                env=runner.worker_env(), limits=sandbox.Limits(timeout=300,
                                                                                               memory_mb=4096),
                                                hide=runner.hidden_paths())
                    if raw.returncode != 0:
                        raise RuntimeError(f"empty sandboxed worker failed: {raw.reason} {raw.stderr[-2000:]}")
                    cpus.append(raw.cpu)
                by_preload[preload] = statistics.median(cpus)
            out[q.stem] = by_preload[preload]
    return out


def student_cpu(out: Path, empty: dict[str, float]) -> dict[str, dict]:
    """Per submission: its workers' CPU, and that minus an empty worker's each (the student code's CPU), by group."""
    per = {}
    for sub in sorted(p for p in out.iterdir() if (p / "record.json").is_file()):
        record = json.loads((sub / "record.json").read_text())
        started = [w for w in record["workers"] if w.get("started")]
        groups: dict[str, float] = {}
        for w in started:
            own = max(0.0, float(w.get("cpu", 0.0)) - empty.get(w["stem"], 0.0))
            groups[w.get("group") or "?"] = groups.get(w.get("group") or "?", 0.0) + own
        per[sub.name] = {"workers": len(started), "worker_cpu": sum(float(w.get("cpu", 0.0)) for w in started),
                         "student_code_cpu": sum(groups.values()), "student_code_cpu_by_group": groups,
                         "score": json.loads((sub / "results.json").read_text())["score"]}
    return per


class Polling:
    """Calls ``sample()`` every ``period`` seconds from a thread while the ``with`` block runs (bench/run.py's
    ProcPoller is one too)."""

    def __init__(self, period: float):
        import os
        import threading

        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._tick = os.sysconf("SC_CLK_TCK")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _loop(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.period)

    def sample(self):
        raise NotImplementedError


class SubmissionCpu(Polling):
    """Polls /proc: the CPU (own + reaped children) of each submission's pytest process, keyed by student id."""

    WORK = re.compile(r"/\.work-([^/\x00]+)-[a-z0-9_]{8}/record\.json")  # grade.py's mkdtemp, --record

    def __init__(self, root_pid: int, period: float = 0.1):
        super().__init__(period)
        self.root = root_pid
        self.cpu: dict[int, tuple[str, float]] = {}

    def sample(self):
        import os

        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                stat = Path(entry.path, "stat").read_text()
                if pid not in self.cpu:
                    cmdline = Path(entry.path, "cmdline").read_bytes().decode(errors="replace")
                    m = self.WORK.search(cmdline)
                    if not m or "pytest" not in cmdline:
                        continue
                    sid = m.group(1)
                else:
                    sid = self.cpu[pid][0]
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            self.cpu[pid] = (sid, sum(int(f) for f in fields[11:15]) / self._tick)

    def by_student(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for sid, cpu in self.cpu.values():
            out[sid] = out.get(sid, 0.0) + cpu
        return out


def grade_class(subs: Path, out: Path, jobs: int, skip_training: bool, timeout: float = 6 * 3600) -> dict:
    import os
    import subprocess

    import run as driver

    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "grader.shipping.grade", "--submissions", str(subs), "--out", str(out),
           "-j", str(jobs), "--no-cache"] + ["--skip-training"] * skip_training
    cpu0 = driver.children_cpu()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ})
    with driver.ProcPoller(proc.pid) as poller, SubmissionCpu(proc.pid) as per_sub:
        stdout, stderr = proc.communicate(timeout=timeout)
    wall = time.perf_counter() - start
    cpu = driver.children_cpu() - cpu0 + sum(poller.worker_cpu.values())
    if proc.returncode != 0:
        raise RuntimeError(f"grader.shipping.grade -j {jobs} exited with {proc.returncode}:\n"
                           f"{(stdout + stderr)[-3000:]}")
    return {"wall": wall, "cpu": cpu, "pytest_cpu": per_sub.by_student(), "output": stdout + stderr,
            "command": " ".join(["python", *cmd[1:]]).replace(str(ROOT) + "/", "")}


def part_class(args, work: Path) -> dict:
    import run as driver

    subs = work / "class-submissions"
    shutil.rmtree(subs, ignore_errors=True)
    profiles = make_class(subs, args.class_size)
    driver.log(f"class: wrote {len(profiles)} submissions to {subs}")
    empty = empty_worker_cpu()
    driver.log("class: empty worker CPU " + ", ".join(f"{s} {c:.2f} s" for s, c in empty.items()))
    result = {"class_size": args.class_size, "skip_training": args.skip_training, "profiles": profiles,
              "empty_worker_cpu": empty, "jobs": {}}
    for jobs in args.jobs:
        out = work / f"class-out-j{jobs}"
        g = grade_class(subs, out, jobs, args.skip_training)
        per = student_cpu(out, empty)
        student_total = sum(p["student_code_cpu"] for p in per.values())
        ratios = {}
        for sid, p in per.items():
            mine = g["pytest_cpu"].get(sid, 0.0) + p["worker_cpu"]
            p["cpu"] = mine
            ratios[sid] = (mine - p["student_code_cpu"]) / p["student_code_cpu"] if p["student_code_cpu"] else None
            p["overhead_ratio"] = ratios[sid]
        known = [r for r in ratios.values() if r is not None]
        counts = stops_and_timeouts(out, g["output"])
        result["jobs"][str(jobs)] = {
            "command": g["command"], "wall": g["wall"], "cpu": g["cpu"], "student_code_cpu": student_total,
            "overhead_ratio": (g["cpu"] - student_total) / student_total if student_total else None,
            "per_submission_overhead_ratio": driver.stats(known) if known else None,
            "submissions_per_minute": 60 * len(per) / g["wall"], "graded": len(per),
            "scores": {sid: p["score"] for sid, p in per.items()}, "per_submission": per, **counts}
        driver.log(f"class J={jobs}: wall {g['wall']:.1f} s, CPU {g['cpu']:.1f} s, student code {student_total:.1f} s, "
                   f"budget stops {counts['budget_stops']}, timeouts {counts['worker_timeouts']}")
    return result


# -- class-level outputs on a synthetic class -----------------------------------------------------------------------

# statements a student might leave in (a check, a temporary); inserted at random to make each file its own
FILLERS = ("{v} = {i}", "{v} = {i} * {f}", "assert {i} > -{i} - 1", "{v} = len([{i}, {i}])", "{v} = abs(-{f})",
           "{v} = max({i}, {f}) - min({i}, {f})", "{v} = [{i}] * {i}", "{v} = {{'step': {i}}}",
           "{v} = str({i}).zfill({i})", "{v} = round({f}, {i})")


def student_functions(stem: str) -> frozenset[str]:
    """The functions a student writes for ``stem``: those whose stub body raises NotImplementedError."""
    tree = ast.parse((ASSIGNMENTS / f"{stem}.py").read_text(encoding="utf-8"))
    return frozenset(node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
                     and any(isinstance(n, ast.Raise) and "NotImplementedError" in ast.unparse(n)
                             for n in ast.walk(node)))


def scramble(text: str, rng: random.Random, rate: float = 0.3, only: frozenset[str] | None = None) -> str:
    """``text`` with filler statements inserted before about ``rate`` of the statements inside its functions (only
    those named in ``only``, when given: what the student wrote, the stub's own helpers left as handed out)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text
    lines = text.splitlines(keepends=True)
    spots = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (only is None or node.name in only):
            for inner in ast.walk(node):
                for child in (inner.body if isinstance(getattr(inner, "body", None), list) else []):
                    line = lines[child.lineno - 1]
                    if (isinstance(child, ast.stmt) and not isinstance(child, (ast.FunctionDef, ast.ClassDef))
                            and len(line) - len(line.lstrip(" ")) == child.col_offset):
                        spots.add((child.lineno, child.col_offset))
    for lineno, col in sorted(spots, reverse=True):
        if rng.random() < rate:  # one to three fillers: enough combinations that two students rarely coincide
            for _ in range(rng.randint(1, 3)):
                filler = rng.choice(FILLERS).format(v=f"t{rng.randint(0, 99)}", i=rng.randint(1, 9),
                                                    f=round(rng.uniform(0, 3), 2))
                lines.insert(lineno - 1, " " * col + filler + "\n")
    new = "".join(lines)
    try:
        ast.parse(new)
    except SyntaxError:
        return text
    return new


def rename(text: str, rng: random.Random) -> str:
    """A copier's disguise: the local names of ``text`` renamed, a comment added."""
    names = {n.id for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    for name in sorted(names):
        if len(name) > 1 and rng.random() < 0.6:
            text = re.sub(rf"\b{re.escape(name)}\b", f"{name}_{rng.randint(0, 9)}", text)
    return "# my own work\n" + text


def _templates(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_dir() and (p / "record.json").is_file()
                  and (p / "submission").is_dir())


def fabricate(templates: list[Path], out: Path, first: int, last: int, seed: int = 1000) -> None:
    """Write synthetic students ``first..last-1`` into ``out``, each from a template graded folder."""
    from grader.reporting import written

    questions = written.load_questions()
    own = {stem: student_functions(stem) for stem in registry.stems()}
    for i in range(first, last):
        rng = random.Random(seed + i)
        src = templates[i % len(templates)]
        sid = f"syn{i:05d}"
        d = out / sid
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        ability = rng.random()
        results = json.loads((src / "results.json").read_text())
        record = json.loads((src / "record.json").read_text())
        for test, check in zip(results["tests"], record["checks"]):
            if test.get("extra_data", {}).get("not_run"):
                continue
            passed = rng.random() < 0.4 + 0.6 * ability
            test["score"] = test["max_score"] if passed else 0.0
            test["status"] = "passed" if passed else "failed"
            check["score"], check["status"] = test["score"], "passed" if passed else "failed"
        results["score"] = round(sum(t["score"] for t in results["tests"]), 4)
        meta = json.loads((src / "meta.json").read_text())
        meta["student_id"] = sid
        answers = {}
        for key, q in questions.items():
            if rng.random() < 0.9:
                answers.setdefault(q.stem, []).append({"tags": [f"{written.ANSWER_TAG}{key}"],
                                                       "source": _answer_text(rng, i), "index": len(answers) + 1})
        for name, data in (("results.json", results), ("record.json", record), ("meta.json", meta),
                           ("answers.json", answers)):
            (d / name).write_text(json.dumps(data, indent=1), encoding="utf-8")
        if (src / "plots").is_dir():
            shutil.copytree(src / "plots", d / "plots")
        (d / "submission").mkdir()
        copy_of = out / f"syn{rng.randrange(first):05d}" if first and rng.random() < 0.02 else None
        for f in sorted((src / "submission").glob("*.py")):
            if copy_of is not None and (copy_of / "submission" / f.name).is_file():
                text = rename((copy_of / "submission" / f.name).read_text(encoding="utf-8"), rng)
            else:
                text = scramble(f.read_text(encoding="utf-8"), rng, only=own[f.stem])
            (d / "submission" / f.name).write_text(text, encoding="utf-8")


@contextmanager
def component_timer():
    """Time the components grade.write_class_outputs calls (patched on the modules grade.py uses)."""
    from grader.reporting import report, similarity, written

    spent: dict[str, float] = {}
    patched = [(report, "write_feedback", "feedback pages"), (report, "write_gradebook", "gradebook.csv"),
               (report, "write_junit", "junit.xml"), (written, "written_marks", "written pages"),
               (written, "write_written_reports", "written pages"),
               (similarity, "write_similarity_counted", "similarity report")]
    originals = []
    for module, name, label in patched:
        original = getattr(module, name)
        originals.append((module, name, original))

        def timed(*a, _original=original, _label=label, **kw):
            t0 = time.perf_counter()
            try:
                return _original(*a, **kw)
            finally:
                spent[_label] = spent.get(_label, 0.0) + time.perf_counter() - t0
        setattr(module, name, timed)
    try:
        yield spent
    finally:
        for module, name, original in originals:
            setattr(module, name, original)


def part_outputs(args, work: Path) -> dict:
    import run as driver

    from grader.shipping import grade

    seeds = None
    if args.templates is not None:
        if not _templates(args.templates):
            raise RuntimeError(f"--templates {args.templates}: no graded submission (record.json and submission/) "
                               f"in it")
        seeds = args.templates
    for jobs in args.jobs if seeds is None else ():
        if (work / f"class-out-j{jobs}").is_dir() and _templates(work / f"class-out-j{jobs}"):
            seeds = work / f"class-out-j{jobs}"
    how = ("the graded class of the `class` part" if args.templates is None
           else f"the submissions graded into {args.templates}")
    if seeds is None:
        subs = work / "seed-submissions"
        shutil.rmtree(subs, ignore_errors=True)
        make_class(subs, 4)
        seeds = work / "seed-out"
        g = grade_class(subs, seeds, 2, skip_training=True)
        how = f"4 generated submissions graded by `{g['command']}`"
        driver.log(f"outputs: graded the seed class in {g['wall']:.1f} s")
    templates = _templates(seeds)
    out = work / "synthetic-out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    sizes, made, rows = sorted(args.sizes), 0, []
    for n in sizes:
        t0 = time.perf_counter()
        fabricate(templates, out, made, n)
        made = n
        fabricated = time.perf_counter() - t0
        walls, cpus, parts, flagged = [], [], [], 0
        for _ in range(args.runs):
            with component_timer() as spent:
                t0, c0 = time.perf_counter(), time.process_time()
                _, flagged = grade.write_class_outputs(out)
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
            parts.append(dict(spent))
        row = {"submissions": n, "seconds": driver.stats(walls), "cpu_seconds": driver.stats(cpus),
               "flagged_pairs": flagged,
               "components": {k: statistics.median(p.get(k, 0.0) for p in parts) for k in parts[0]},
               "fabricated_in": fabricated}
        rows.append(row)
        driver.log(f"outputs: {n} submissions: {row['seconds']['median']:.2f} s, CPU {row['cpu_seconds']['median']:.2f} s "
                   f"({flagged} flagged pairs)")
    first, last = rows[0], rows[-1]
    growth = (last["seconds"]["median"] / first["seconds"]["median"]) if first["seconds"]["median"] else None
    cpu_growth = (last["cpu_seconds"]["median"] / first["cpu_seconds"]["median"]
                  if first["cpu_seconds"]["median"] else None)
    return {"templates": [p.name for p in templates], "templates_from": how, "sizes": rows,
            "growth_ratio": growth, "cpu_growth_ratio": cpu_growth, "size_ratio": last["submissions"] / first["submissions"],
            "per_submission_ms": {str(r["submissions"]): 1000 * r["seconds"]["median"] / r["submissions"]
                                  for r in rows},
            "target_seconds": OUTPUTS_TARGET}


def main(argv: list[str] | None = None) -> int:
    import run as driver

    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(a == "--only" or a.startswith("--only=") for a in argv):
        argv = ["--only", "class,outputs", *argv]
    return driver.main(argv)


if __name__ == "__main__":
    sys.exit(main())
