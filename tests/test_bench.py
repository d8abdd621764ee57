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


def test_bench_class_and_outputs_parts_report_their_fields(tmp_path):
    """bench/class_bench.py grades a generated class and times the class outputs; the report carries every field"""
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "class_bench.py"), "--class-size", "2",
                           "--skip-training", "--jobs", "2", "--sizes", "4,8", "--runs", "1", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"the class benchmark failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    res = json.loads((tmp_path / "results.json").read_text())
    assert set(res["parts"]) == {"class", "outputs"}, f"parts: {sorted(res['parts'])}; errors: {res['errors']}"
    cl = res["parts"]["class"]
    assert cl["class_size"] == 2 and cl["skip_training"] is True and len(cl["profiles"]) == 2
    assert set(cl["jobs"]) == {"2"}
    run = cl["jobs"]["2"]
    for key in ("command", "wall", "cpu", "student_code_cpu", "overhead_ratio", "per_submission_overhead_ratio",
                "budget_stops", "killed_at_limit", "worker_timeouts", "worker_cpu_limit", "submission_timeouts"):
        assert key in run, f"the class part's J=2 run has no {key!r}"
    assert run["graded"] == 2 and run["wall"] > 0 and run["cpu"] > 0
    assert "--skip-training" in run["command"] and "-j 2" in run["command"]
    assert run["budget_stops"] == run["worker_timeouts"] == run["submission_timeouts"] == 0, run["details"]
    assert all(p["workers"] > 0 and p["cpu"] >= p["student_code_cpu"] >= 0 for p in run["per_submission"].values())
    assert set(cl["empty_worker_cpu"]) == set(registry_stems()), cl["empty_worker_cpu"]
    out = res["parts"]["outputs"]
    assert [r["submissions"] for r in out["sizes"]] == [4, 8]
    assert out["templates"] and "class" in out["templates_from"]
    for row in out["sizes"]:
        assert row["seconds"]["n"] == 1 and row["seconds"]["median"] > 0 and row["cpu_seconds"]["median"] > 0
        assert {"similarity report", "gradebook.csv", "junit.xml", "feedback pages"} <= set(row["components"])
    assert out["growth_ratio"] > 0 and out["size_ratio"] == 2
    md = (tmp_path / "results.md").read_text()
    assert "## Class benchmark" in md and "## Class-level outputs on synthetic submissions" in md
    names = [t["name"] for t in res["targets"]]
    assert any("budget stops and timeouts" in n for n in names) and any("class-level outputs" in n for n in names)


def registry_stems():
    from grader import registry

    return registry.stems()


def _class_bench():
    import importlib.util

    spec = importlib.util.spec_from_file_location("class_bench", ROOT / "bench" / "class_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_class_generator_writes_the_described_class(tmp_path):
    """The generated class: parseable modules, the handout's Q3 recipe for most, per-sample Q4 steps, answered notebooks"""
    import ast

    cb = _class_bench()
    profiles = cb.make_class(tmp_path, 20)
    assert len(profiles) == 20 and len({p["id"] for p in profiles}) == 20
    for p in profiles:
        d = tmp_path / p["id"]
        assert len(list(d.glob("*.py"))) == 4 and len(list(d.glob("*.ipynb"))) == 2, sorted(x.name for x in d.iterdir())
        for f in d.glob("*.py"):
            ast.parse(f.read_text(encoding="utf-8"), str(f))
        assert "_Write your answer here._" not in "".join(f.read_text() for f in d.glob("*.ipynb"))
    handout = [p for p in profiles if p["q3"].startswith("handout")]
    assert 12 <= len(handout) < 20, "most, not all, Q3 answers follow the handout's recipe"
    q3 = (tmp_path / handout[0]["id"] / f"{cb.stem_of('q3')}.py").read_text()
    assert 'EarlyStopping(monitor="val_loss", patience=5' in q3 and "batch_size=32, epochs=50" in q3
    assert "validation_split=" in q3 and "validation_data" not in q3, "the validation data must come from training"
    assert sum(p["q4"].startswith("handout") for p in profiles) >= 10
    assert {"box_wrong_sign", "exp_jacobian", "init_fan_in", "missing_sigmoid_derivative"} <= {
        v for p in profiles for v in p.values()}


def test_handout_style_q4_step_matches_the_reference(tmp_path):
    """The handout-style train_one_sample the class uses updates the parameters as the reference does"""
    import importlib.util

    import numpy as np

    cb = _class_bench()
    strip = cb._load("make_examples", ROOT / "scripts" / "make_examples.py").strip_markers
    stem = cb.stem_of("q4")
    modules = {}
    for name, text in (("ref", strip((ROOT / "solutions" / f"{stem}.py").read_text())),
                       ("handout", strip(cb.handout_q4((ROOT / "solutions" / f"{stem}.py").read_text(), True)))):
        path = tmp_path / f"{name}.py"
        path.write_text(text)
        spec = importlib.util.spec_from_file_location(f"q4_{name}", path)
        modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[name])
    rng = np.random.default_rng(3)
    x, y = rng.random((6, 784)), rng.integers(0, 10, 6)
    params = {name: m.init_params(np.random.default_rng(80085)) for name, m in modules.items()}
    for i in range(6):
        losses = {name: m.train_one_sample(*params[name], x[i], int(y[i])) for name, m in modules.items()}
        assert abs(losses["ref"] - losses["handout"]) < 1e-12, losses
    for a, b in zip(params["ref"][0] + params["ref"][1], params["handout"][0] + params["handout"][1]):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
    ev = {name: m.evaluate(*params[name], x, y) for name, m in modules.items()}
    assert ev["ref"][1] == ev["handout"][1] and abs(ev["ref"][0] - ev["handout"][0]) < 1e-9, ev


def test_stops_and_timeouts_are_read_from_the_results(tmp_path):
    """Budget stops, kills at the limit, worker timeouts and grader timeouts are each counted from OUT"""
    cb = _class_bench()
    sub = tmp_path / "s1"
    sub.mkdir()
    (sub / "results.json").write_text(json.dumps({"tests": [
        {"name": "Q3: accuracy", "output": "test accuracy: 88.00%; stopped at the budget after 14 of 50 epochs"},
        {"name": "Q4: accuracy", "output": "stopped by the grader's limit after 2 of 3 epochs: the epochs reached"},
        {"name": "Q1: box", "output": ""}]}))
    (sub / "record.json").write_text(json.dumps({"workers": [
        {"stem": "q3_fashion_mnist", "group": "train", "reason": "timed out after 2460 s (killed)"},
        {"stem": "q4_numpy_backprop", "group": "train", "reason": "CPU limit of 810 s reached (killed)"},
        {"stem": "q1_expressivity", "group": "main", "reason": ""}]}))
    found = cb.stops_and_timeouts(tmp_path, "    s2  GRADER ERROR  grading took longer than 3600 s\n")
    assert {k: found[k] for k in ("budget_stops", "killed_at_limit", "worker_timeouts", "worker_cpu_limit",
                                  "submission_timeouts")} == dict.fromkeys(
        ("budget_stops", "killed_at_limit", "worker_timeouts", "worker_cpu_limit", "submission_timeouts"), 1), found
    assert found["details"]["submission_timeouts"] == ["s2"]


def test_scramble_and_rename_keep_code_valid():
    """The synthetic class's edits (inserted statements, a copier's renames) leave valid, changed Python"""
    import ast
    import random

    cb = _class_bench()
    for f in sorted((ROOT / "examples" / "submissions" / "reference").glob("*.py")):
        text = f.read_text()
        for seed in range(3):
            for new in (cb.scramble(text, random.Random(seed), rate=0.3), cb.rename(text, random.Random(seed))):
                ast.parse(new)
                assert new != text, f"{f.name}, seed {seed}: nothing changed"
