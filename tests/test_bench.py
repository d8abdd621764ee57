"""The benchmark driver's plumbing on a tiny configuration (bench/run.py --smoke): not a timed test."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _stats_dicts(node, path=""):
    if isinstance(node, dict):
        if {"median", "min", "max", "n", "values"} <= set(node):
            yield path, node
        for key, value in node.items():
            yield from _stats_dicts(value, f"{path}.{key}")


def test_bench_smoke_writes_consistent_results(tmp_path):
    """bench/run.py --smoke writes results.json and results.md with consistent medians, minima and maxima"""
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"the smoke benchmark failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    res = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "results.md").read_text().startswith("# Benchmark results")
    for key in ("kit_version", "cores", "load_average", "runs", "parts", "targets", "date", "command"):
        assert key in res, f"results.json has no {key!r}"
    assert res["runs"] == 1 and res["cores"] >= 1 and len(res["load_average"]["before"]) == 3
    assert set(res["parts"]) == {"grader", "batch", "cache"}, f"parts run: {sorted(res['parts'])}; errors: {res['errors']}"
    grader = res["parts"]["grader"]
    assert set(grader["questions"]) == {"q1_expressivity", "q2_softmax_jacobian"}
    for q in grader["questions"].values():
        assert set(q["split"]) == {"sandbox_start", "imports", "student_code", "trusted_checks"}
        assert q["peak_rss_mb_worker"]["median"] > 0, "no worker process was seen in /proc"
    assert res["parts"]["batch"]["submissions"] == 2
    assert res["parts"]["cache"]["total"]["n"] == 1
    found = list(_stats_dicts(res))
    assert len(found) > 10
    for path, s in found:
        assert s["n"] == len(s["values"]) >= 1, path
        assert s["min"] <= s["median"] <= s["max"], f"{path}: {s}"
        assert s["min"] == min(s["values"]) and s["max"] == max(s["values"]), path
    assert all({"name", "target", "figure", "met"} <= set(t) for t in res["targets"]) and res["targets"]
