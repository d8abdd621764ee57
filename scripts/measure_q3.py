"""Measure the Question 3 reference: test accuracy, training time and reproducibility over several seeds.

Every training run happens in a fresh worker process (this script with ``--worker``), the way the grader trains a
submission, so "same seed, same weights" is tested across processes and TensorFlow's op determinism, which cannot be
switched off once on, can be compared with its default.

    python scripts/measure_q3.py                          # reference, seeds 0-4, written to bench/q3_measurements.md
    python scripts/measure_q3.py --repeats 2 --op-determinism both --handout   # everything the report discusses
    python scripts/measure_q3.py --json bench/out/new.json --include bench/out/old.json  # report two sessions together
    python scripts/measure_q3.py --report-only --include bench/out/*.json                # only rewrite the report

The training time is the wall time of the ``train_model`` call alone (data loading, model building and the final
test evaluation are excluded). Other jobs share the machine, so the summary reports medians and, per run, the CPU time
and the load average before the run.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import inspect
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REPORT = ROOT / "bench" / "q3_measurements.md"
TIME_LIMIT = 60.0
ACCURACY_BAR = 0.885


def train_handout_recipe(model, x_train, y_train, x_test, y_test):
    """The handout's setup, kept only for comparison: batch 32, up to 50 epochs, early stopping with patience 5 on
    the loss of the *test* set (the leak the reference avoids), restoring the best weights."""
    import keras

    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)
    history = model.fit(x_train, y_train, batch_size=32, epochs=50, validation_data=(x_test, y_test),
                        callbacks=[stop], verbose=0)
    return history.history


def weights_digest(model) -> str:
    digest = hashlib.sha256()
    for array in model.get_weights():
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def worker(job: dict) -> dict:
    """Train once as ``job`` describes, in this process, and return the measurements."""
    import tensorflow as tf

    if job["op_determinism"]:
        tf.config.experimental.enable_op_determinism()
    if job.get("intra_op"):
        tf.config.threading.set_intra_op_parallelism_threads(job["intra_op"])
    if job.get("inter_op"):
        tf.config.threading.set_inter_op_parallelism_threads(job["inter_op"])
    import keras
    import numpy as np

    from solutions import q3_fashion_mnist as q3

    (x_train, y_train), (x_test, y_test) = q3.load_data()
    if job.get("mix"):
        # as the grader does: the 784 pixels of every image mixed by one orthogonal matrix, here drawn from the seed and the repeat
        # (the grader draws its own from the run's secret; any Haar-distributed matrix is equivalent in distribution)
        q, r = np.linalg.qr(np.random.default_rng(10_000 + 100 * job["repeat"] + job["seed"]).standard_normal((784, 784)))
        q *= np.where(np.diag(r) < 0, -1.0, 1.0)
        x_train, x_test = ((x.reshape(len(x), 784) @ q).astype(np.float32).reshape(x.shape) for x in (x_train, x_test))
    keras.utils.set_random_seed(job["seed"])
    model = q3.build_model()
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    if job["recipe"] == "reference":
        history = q3.train_model(model, x_train, y_train)
    else:
        history = train_handout_recipe(model, x_train, y_train, x_test, y_test)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    _, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    val_loss = history.get("val_loss")
    return {**job, "accuracy": float(accuracy), "train_seconds": wall, "cpu_seconds": cpu, "load_before": load,
            "epochs": len(history["loss"]),
            "best_epoch": int(min(range(len(val_loss)), key=val_loss.__getitem__)) + 1 if val_loss else None,
            "weights": weights_digest(model)}


def run_job(job: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(job)], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if proc.returncode != 0:
        raise RuntimeError(f"worker for {job} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def spread(values: list[float], fmt: str) -> str:
    return " / ".join(format(v, fmt) for v in (min(values), statistics.median(values), max(values)))


def config_name(op_determinism: bool, mix: bool = False) -> str:
    return ("op determinism on" if op_determinism else "TF defaults") + (", pixels mixed" if mix else "")


def reference_recipe_source() -> str:
    """The solution region of ``train_model``: the recipe these numbers belong to."""
    from solutions import q3_fashion_mnist as q3

    lines = inspect.getsource(q3.train_model).splitlines()
    start = next(i for i, line in enumerate(lines) if "BEGIN SOLUTION" in line)
    end = next(i for i, line in enumerate(lines) if "END SOLUTION" in line)
    return inspect.cleandoc("\n".join(lines[start + 1:end]))


def environment() -> list[str]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else "?"
    return [f"- date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
            f"- machine: {os.cpu_count()} CPU cores ({cpu}), shared with other jobs; Python {platform.python_version()}",
            f"- TensorFlow {tf.__version__} (CPU), Keras {keras.__version__}"]


def report(results: list[dict], command: str) -> str:
    sessions = sorted({r["session"] for r in results})  # "YYYY-MM-DD HH:MM TZ" sorts by time
    lines = ["# Question 3 reference: measured figures", "",
             f"Generated by `{command.strip()}`; rerun it to refresh. Training time is the wall time of `train_model` "
             f"alone; the machine is shared, so compare medians (CPU time and the 1-minute load average before each "
             f"run are listed to show the contention).", "", *environment(), "", "Measurement sessions:", ""]
    for n, session in enumerate(sessions, start=1):
        command_run = next(r["command"] for r in results if r["session"] == session)
        lines.append(f"{n}. {session}: `{command_run.strip()}`")
    lines += ["",
             "Reference recipe (the solution region of `train_model`):", "", "```python", reference_recipe_source(),
             "```", ""]
    reference = [r for r in results if r["recipe"] == "reference"]
    configs = sorted({r["op_determinism"] for r in reference})
    lines += ["## Reference, per run", "",
              "| seed | session | run | setting | test accuracy | train time (s) | CPU time (s) | load before | epochs "
              "| best val-loss epoch | weights SHA-256 |",
              "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in sorted(reference, key=lambda r: (r["op_determinism"], r["seed"], sessions.index(r["session"]),
                                              r["repeat"])):
        lines.append(f"| {r['seed']} | {sessions.index(r['session']) + 1} | {r['repeat'] + 1} | "
                     f"{config_name(r['op_determinism'], r.get('mix', False))} | {r['accuracy']:.2%} "
                     f"| {r['train_seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['load_before']:.1f} | {r['epochs']} "
                     f"| {r['best_epoch']} | `{r['weights']}` |")
    lines += ["", "## Reference, summary (min / median / max over all runs)", "",
              "| setting | runs | test accuracy | train time (s) | accuracy ≥ 88.5% on every seed "
              "| same seed, bit-identical weights |",
              "|---|---:|---|---|---|---|"]
    for det in configs:
        runs = [r for r in reference if r["op_determinism"] == det]
        accs, times = [r["accuracy"] for r in runs], [r["train_seconds"] for r in runs]
        by_seed: dict[int, set[str]] = {}
        for r in runs:
            by_seed.setdefault(r["seed"], set()).add(r["weights"])
        repeated = [s for s in by_seed if sum(r["seed"] == s for r in runs) > 1]
        identical = ("not tested (one run per seed)" if not repeated else
                     "yes, every seed" if all(len(by_seed[s]) == 1 for s in repeated) else
                     f"no: seeds {sorted(s for s in repeated if len(by_seed[s]) > 1)} differ")
        lines.append(f"| {config_name(det)} | {len(runs)} | {spread([a * 100 for a in accs], '.2f')} % | "
                     f"{spread(times, '.1f')} | {'yes' if min(accs) >= ACCURACY_BAR else 'NO'} (min "
                     f"{min(accs):.2%}) | {identical} |")
    lines += ["", "Training time by session (medians; the load is the 1-minute load average before each run):", "",
              "| session | setting | runs | train time (s) | ≤ 60 s | CPU time (s) | load before |",
              "|---:|---|---:|---:|---|---:|---:|"]
    for n, session in enumerate(sessions, start=1):
        for det in configs:
            runs = [r for r in reference if r["session"] == session and r["op_determinism"] == det]
            if runs:
                median = statistics.median(r["train_seconds"] for r in runs)
                lines.append(f"| {n} | {config_name(det)} | {len(runs)} | {median:.1f} | "
                             f"{'yes' if median <= TIME_LIMIT else 'no'} | "
                             f"{statistics.median(r['cpu_seconds'] for r in runs):.1f} | "
                             f"{statistics.median(r['load_before'] for r in runs):.1f} |")
    # Compare the settings only within sessions that ran both, run after run, so both saw the same load.
    both = [s for s in sessions if len({r["op_determinism"] for r in reference if r["session"] == s}) == 2]
    if both:
        paired = [r for r in reference if r["session"] in both]
        med = {(key, det): statistics.median(r[key] for r in paired if r["op_determinism"] == det)
               for key in ("train_seconds", "cpu_seconds") for det in (False, True)}
        off, on = med["train_seconds", False], med["train_seconds", True]
        cpu_off, cpu_on = med["cpu_seconds", False], med["cpu_seconds", True]
        names = ", ".join(str(sessions.index(s) + 1) for s in both)
        lines += ["", f"Op determinism cost (session{'s' if len(both) > 1 else ''} {names}, where the settings "
                      f"alternated run by run): median train time {on:.1f} s with it vs {off:.1f} s without "
                      f"({(on / off - 1):+.0%}); median CPU time {cpu_on:.1f} s vs {cpu_off:.1f} s "
                      f"({(cpu_on / cpu_off - 1):+.0%})."]
    handout = [r for r in results if r["recipe"] == "handout"]
    if handout:
        lines += ["", "## Handout recipe, for comparison", "",
                  "Batch 32, up to 50 epochs, early stopping (patience 5, best weights restored) on the *test* loss. "
                  "Its test accuracy is biased upwards by that choice, and it is not a recipe to hand out.", "",
                  "| seed | session | setting | test accuracy | train time (s) | CPU time (s) | load before | "
                  "epochs run | best epoch |", "|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
        for r in handout:
            lines.append(f"| {r['seed']} | {sessions.index(r['session']) + 1} | {config_name(r['op_determinism'], r.get('mix', False))} | "
                         f"{r['accuracy']:.2%} | "
                         f"{r['train_seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['load_before']:.1f} | "
                         f"{r['epochs']} | {r['best_epoch']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    parser.add_argument("--repeats", type=int, default=1, help="runs per seed and setting (2+ tests reproducibility)")
    parser.add_argument("--op-determinism", choices=("off", "on", "both"), default="off",
                        help="tf.config.experimental.enable_op_determinism() in the workers (default off)")
    parser.add_argument("--mix", action="store_true",
                        help="mix the pixels by a random rotation, as the grader does (README, 'Training credit')")
    parser.add_argument("--handout", action="store_true", help="also train the handout recipe, for comparison")
    parser.add_argument("--handout-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--intra-op", type=int, default=0, help="TF intra-op threads (0: TensorFlow's default)")
    parser.add_argument("--inter-op", type=int, default=0, help="TF inter-op threads (0: TensorFlow's default)")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help=f"markdown output (default {DEFAULT_REPORT.relative_to(ROOT)})")
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON")
    parser.add_argument("--include", type=Path, nargs="+", default=[], metavar="JSON",
                        help="earlier --json results to report together with this run's")
    parser.add_argument("--report-only", action="store_true", help="train nothing; report the --include results")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    settings = {"off": [False], "on": [True], "both": [False, True]}[args.op_determinism]
    threads = {"intra_op": args.intra_op, "inter_op": args.inter_op}
    # Settings alternate run by run, so drifting load from other jobs falls on both alike.
    jobs = [{"recipe": "reference", "seed": seed, "repeat": repeat, "op_determinism": det, "mix": args.mix, **threads}
            for repeat in range(args.repeats) for seed in args.seeds for det in settings]
    if args.report_only:
        jobs = []
    elif args.handout:
        jobs += [{"recipe": "handout", "seed": seed, "repeat": 0, "op_determinism": False, "mix": args.mix, **threads}
                 for seed in args.handout_seeds]
    session = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    command = "python scripts/measure_q3.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results = []
    for i, job in enumerate(jobs, start=1):
        r = {**run_job(job), "session": session, "command": command}
        results.append(r)
        print(f"[{i}/{len(jobs)}] {r['recipe']:9s} seed {r['seed']} run {r['repeat'] + 1} "
              f"{config_name(r['op_determinism'], r.get('mix', False)):17s} accuracy {r['accuracy']:.2%}  train {r['train_seconds']:6.1f} s "
              f"(cpu {r['cpu_seconds']:.1f} s, load {r['load_before']:.1f})  epochs {r['epochs']}  "
              f"weights {r['weights']}", flush=True)
    for det in settings:
        runs = [r for r in results if r["recipe"] == "reference" and r["op_determinism"] == det]
        if not runs:
            continue
        print(f"reference, {config_name(det)}: accuracy min/median/max "
              f"{spread([r['accuracy'] * 100 for r in runs], '.2f')} %, train time {spread([r['train_seconds'] for r in runs], '.1f')} s")
    if args.json and results:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    for path in args.include:
        results = json.loads(path.read_text(encoding="utf-8")) + results
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(report(results, command.strip()), encoding="utf-8")
        print(f"wrote {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
