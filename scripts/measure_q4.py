"""Time the Q4 reference against the literal handout transcription and check that they print the same numbers.

For each input mode (default [0, 1] pixels, and ``--handout`` raw pixels) the two programs

    python -m solutions.q4_numpy_backprop [--handout]
    python bench/handout_q4.py [--handout]

are run alternately ``--runs`` times each (so that both see the same background load), wall-clock timed as whole
processes (interpreter start, imports, data loading, 3 epochs and 4 test evaluations), and their outputs compared
line by line. The fixed start-up cost (interpreter, imports, ``load_data``) is timed separately. Optionally the
reference is re-run under other OpenBLAS kernels (``OPENBLAS_CORETYPE``) to show how much each mode's printed numbers
depend on the BLAS. Everything is written to ``bench/q4_measurements.md``.

    .venv/bin/python scripts/measure_q4.py [--runs 3] [--coretypes Haswell,Prescott] [--out bench/q4_measurements.md]

Exits 1 if the two programs print different numbers in either mode.
"""

from __future__ import annotations

import argparse
import datetime
import difflib
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = [sys.executable, "-m", "solutions.q4_numpy_backprop"]
TRANSCRIPTION = [sys.executable, str(ROOT / "bench" / "handout_q4.py")]
STARTUP = [sys.executable, "-c",
           "import sys, solutions.q4_numpy_backprop as q4; q4.load_data(handout='--handout' in sys.argv)"]
MODES = {"default ([0, 1] pixels)": [], "--handout (raw 0-255 pixels)": ["--handout"]}


def run(cmd: list[str], env: dict | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return elapsed, done.stdout


def summary(times: list[float]) -> str:
    return f"median {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}, n={len(times)})"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unavailable"


def environment() -> list[str]:
    probe = ("import numpy, nnkit.data as d; c = numpy.show_config(mode='dicts'); "
             "b = c['Build Dependencies']['blas']; print(numpy.__version__); "
             "print(b.get('name'), b.get('version'), '|', b.get('openblas configuration', '')); print(d.__file__)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    numpy_version, blas, data_file = (done.stdout.splitlines() + ["?"] * 3)[:3]
    cpu = "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    return [f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
            f"- machine: {cpu}, {os.cpu_count()} CPUs, {platform.platform()}",
            f"- Python {platform.python_version()}, numpy {numpy_version}, BLAS {blas}",
            f"- data: `load_mnist` from `{data_file}`",
            f"- git: {commit.stdout.strip()}{' + uncommitted changes' if dirty.stdout.strip() else ''}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each program per mode (at least 3)")
    parser.add_argument("--coretypes", default="Haswell,Prescott",
                        help="comma-separated OPENBLAS_CORETYPE values to re-run the reference under ('' for none)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "q4_measurements.md")
    args = parser.parse_args(argv)
    if args.runs < 3:
        parser.error("--runs must be at least 3")

    env_lines = environment()
    load_before = load_average()
    mismatch = False
    sections = []
    for label, flags in MODES.items():
        ref_times, tr_times, ratios, outputs = [], [], [], set()
        ref_out = tr_out = ""
        for i in range(args.runs):
            # Alternate which program goes first so neither systematically gets the quieter slot.
            order = [("ref", REFERENCE), ("tr", TRANSCRIPTION)]
            results = {}
            for name, cmd in (order if i % 2 == 0 else order[::-1]):
                results[name] = run(cmd + flags)
            (t_ref, ref_out), (t_tr, tr_out) = results["ref"], results["tr"]
            ref_times.append(t_ref)
            tr_times.append(t_tr)
            ratios.append(t_ref / t_tr)
            outputs.update({("ref", ref_out), ("tr", tr_out)})
            print(f"{label} run {i + 1}: reference {t_ref:.2f} s, transcription {t_tr:.2f} s, "
                  f"ratio {t_ref / t_tr:.3f}", flush=True)
        startup = [run(STARTUP + flags)[0] for _ in range(3)]
        same = len({out for _, out in outputs}) == 1
        mismatch |= not same
        print(f"{label}: reference {summary(ref_times)}; transcription {summary(tr_times)}")
        print(f"{label}: ratio of medians {statistics.median(ref_times) / statistics.median(tr_times):.3f}, "
              f"median of paired ratios {statistics.median(ratios):.3f}; start-up {summary(startup)}")
        print(f"{label}: outputs {'IDENTICAL' if same else 'DIFFER'} across all {2 * args.runs} runs")
        if not same:
            sys.stdout.writelines(difflib.unified_diff(tr_out.splitlines(True), ref_out.splitlines(True),
                                                       "bench/handout_q4.py", "solutions.q4_numpy_backprop"))

        coretype_rows = []
        for core in filter(None, (c.strip() for c in args.coretypes.split(","))):
            _, out = run(REFERENCE + flags, env={**os.environ, "OPENBLAS_CORETYPE": core})
            last = out.strip().splitlines()[-2:]
            coretype_rows.append(f"| `OPENBLAS_CORETYPE={core}` | {' / '.join(line.split(': ', 1)[1] for line in last)} |")
            print(f"{label}: reference under OPENBLAS_CORETYPE={core}: {' | '.join(last)}", flush=True)

        sections += [f"## {label}", "",
                     f"Printed by both programs ({'identical' if same else '**DIFFERENT**'} in all "
                     f"{2 * args.runs} runs); one evaluation after initialisation, then one after each epoch:", "",
                     "```", ref_out.rstrip(), "```", ""]
        if not same:
            sections += ["The transcription printed:", "", "```", tr_out.rstrip(), "```", ""]
        sections += ["| program | wall-clock time per run (whole process) |", "|---|---|",
                     f"| reference `python -m solutions.q4_numpy_backprop {' '.join(flags)}` | {summary(ref_times)} |",
                     f"| transcription `python bench/handout_q4.py {' '.join(flags)}` | {summary(tr_times)} |",
                     f"| start-up only (interpreter, imports, `load_data`) | {summary(startup)} |", "",
                     f"- reference / transcription: ratio of medians "
                     f"**{statistics.median(ref_times) / statistics.median(tr_times):.3f}**, median of the "
                     f"{args.runs} paired ratios {statistics.median(ratios):.3f} "
                     f"(each pair run back to back, in alternating order)",
                     "- per-run seconds, reference: " + ", ".join(f"{t:.2f}" for t in ref_times),
                     "- per-run seconds, transcription: " + ", ".join(f"{t:.2f}" for t in tr_times), ""]
        if coretype_rows:
            sections += ["The reference's last evaluation under other OpenBLAS kernels (one run each; the numbers "
                         "above use the kernel OpenBLAS picks for this CPU):", "",
                         "| BLAS kernel | average loss / accuracy after 3 epochs |", "|---|---|", *coretype_rows, ""]

    text = "\n".join([
        "# Q4: reference vs. literal handout transcription", "",
        "Written by `scripts/measure_q4.py`; rerun it rather than editing this file.", "",
        "- reference: `solutions/q4_numpy_backprop.py` (vectorised evaluation; per-sample training that skips the "
        "exactly-zero W1 updates of zero pixels, reuses sigmoid outputs for the derivative and updates in place, "
        "with every floating-point operation in the handout's order)",
        "- transcription: `bench/handout_q4.py` (the handout's algorithm sample by sample, full `np.outer` "
        "gradients, `dsigmoid` recomputed, per-sample evaluation)",
        *env_lines,
        f"- load average (1, 5, 15 min) before: {load_before}, after: {load_average()} "
        "(other jobs share the machine, so single timings are noisy; compare the paired ratios)", "",
        *sections]).rstrip() + "\n"
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 1 if mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
