"""Training budgets: counted in CPU time, stopped gracefully with the epochs reached, slots on disjoint cores."""

import json
import os
import threading
import time

import pytest

from grader import registry
from grader.running import budget, runner, sandbox, slots
from grader.running.runner import Call, Rng

TRAIN_LIMITS = sandbox.Limits(timeout=120, memory_mb=4096)

# a training that calls on_epoch_end(epoch, w) after each epoch; each epoch burns CPU_PER_EPOCH seconds of CPU time,
# or sleeps SLEEP_PER_EPOCH seconds
TOY_TRAIN = '''
import os
import time

import numpy as np

CPU_PER_EPOCH = {cpu}
SLEEP_PER_EPOCH = {sleep}


def burn(seconds):
    t = os.times()
    end = t.user + t.system + seconds
    while sum(os.times()[:2]) < end:
        pass


def train(x, epochs=3, rng=None, on_epoch_end=None):
    w = np.zeros(3)
    for epoch in range(1, epochs + 1):
        burn(CPU_PER_EPOCH)
        time.sleep(SLEEP_PER_EPOCH)
        w = w + x
        if on_epoch_end is not None:
            {record}
    return w
'''


def toy(tmp_path, cpu=0.0, sleep=0.0, record="on_epoch_end(epoch, w)"):
    sub = tmp_path / "sub"
    sub.mkdir(exist_ok=True)
    (sub / "toy_train.py").write_text(TOY_TRAIN.format(cpu=cpu, sleep=sleep, record=record))
    for path in (tmp_path, sub, sub / "toy_train.py"):
        path.chmod(0o755)
    return sub


def train_call(epochs: int) -> Call:
    import numpy as np

    return Call("train", "train", [np.ones(3)], kwargs={"epochs": epochs, "rng": Rng(0)}, task="train_epochs",
                group="train")


def run_toy(sub, epochs, cpu_budget, limits=TRAIN_LIMITS):
    run = runner.run_calls(sub, "toy_train", "train", [train_call(epochs)], limits, cpu_budget=cpu_budget)
    assert run.ok, run.reason
    out = run.calls["train"]
    assert out["ok"], out
    return run, out["value"]


def test_questions_declare_their_training_budget():
    budgets = {q.label: q.training_cpu_seconds for q in registry.questions()}
    assert budgets["q3"] and budgets["q4"] and budgets["q1"] is None
    assert {q.label: budget.cpu_budget(q) for q in registry.questions()} == budgets


@pytest.mark.parametrize("value", ["0", "-5", "'ten'", "true", "[600]"])
def test_registry_rejects_a_budget_that_is_not_a_positive_number(tmp_path, value):
    folder = tmp_path / "q9_bad"
    folder.mkdir()
    (folder / "question.toml").write_text(f'label = "q9"\ntitle = "Bad"\ntraining_cpu_seconds = {value}\n')
    with pytest.raises(registry.RegistryError, match="training_cpu_seconds must be a positive number"):
        registry._load(folder)


def test_environment_overrides_the_budget(monkeypatch):
    q3, q4 = registry.by_stem("q3_fashion_mnist"), registry.by_stem("q4_numpy_backprop")
    monkeypatch.setenv(budget.ENV, "q4=20")
    assert budget.cpu_budget(q4) == 20 and budget.cpu_budget(q3) == q3.training_cpu_seconds
    monkeypatch.setenv(budget.ENV, "q3_fashion_mnist=30, q4=7.5")
    assert (budget.cpu_budget(q3), budget.cpu_budget(q4)) == (30, 7.5)
    monkeypatch.setenv(budget.ENV, "45")
    assert budget.cpu_budget(q3) == budget.cpu_budget(q4) == 45
    for bad in ("q4=", "q4=-1", "soon"):
        monkeypatch.setenv(budget.ENV, bad)
        with pytest.raises(budget.BudgetError, match=budget.ENV):
            budget.cpu_budget(q4)


def test_limits_are_cpu_first_with_a_wall_backstop_far_above():
    limits = budget.limits_for(sandbox.Limits(timeout=300, memory_mb=6144), 600)
    assert limits.cpu_seconds == 600 * budget.STOP_GRACE + budget.STARTUP_SECONDS
    assert limits.timeout == 4 * 600 + budget.STARTUP_SECONDS and limits.memory_mb == 6144


def test_training_over_the_budget_stops_after_an_epoch_with_the_epochs_reached(tmp_path):
    sub = toy(tmp_path, cpu=0.4)
    run, value = run_toy(sub, epochs=50, cpu_budget=1.0)
    stopped = value["stopped"]
    assert 2 <= stopped["epochs"] <= 5 and stopped["of"] == 50 and stopped["budget"] == 1.0
    assert len(value["epochs"]) == stopped["epochs"]
    assert [float(v) for v in value["result"][0]] == [stopped["epochs"]] * 3  # the state after the last epoch
    assert budget.stop_note(value) == f"stopped at the budget after {stopped['epochs']} of 50 epochs (1 CPU-seconds)"
    assert run.cpu < 30


def test_training_within_the_budget_is_not_stopped(tmp_path):
    sub = toy(tmp_path, cpu=0.05)
    _, value = run_toy(sub, epochs=4, cpu_budget=5.0)
    assert "stopped" not in value and len(value["epochs"]) == 4 and budget.stop_note(value) == ""


def test_sleeping_does_not_use_the_budget(tmp_path):
    """Four epochs of 0.6 s asleep each: 2.4 s of wall time against a budget of 1 CPU-second."""
    sub = toy(tmp_path, sleep=0.6)
    run, value = run_toy(sub, epochs=4, cpu_budget=1.0)
    assert "stopped" not in value and len(value["epochs"]) == 4
    assert run.wall > 2.4


def test_training_that_swallows_the_stop_is_killed_and_graded_on_the_epochs_sent(tmp_path, monkeypatch):
    """The training catches every exception around on_epoch_end and goes on; the CPU limit kills it mid-epoch, and
    the epochs it reported before are graded all the same."""
    monkeypatch.setattr(budget, "STARTUP_SECONDS", 4.0)
    monkeypatch.setattr(budget, "BACKSTOP_FACTOR", 100.0)  # the CPU limit, not the wall clock, on a loaded machine
    sub = toy(tmp_path, cpu=0.5, record="try:\n                on_epoch_end(epoch, w)\n"
                                        "            except BaseException:\n                pass")
    run, value = run_toy(sub, epochs=1000, cpu_budget=1.0)
    stopped = value["stopped"]
    assert stopped["killed"].startswith("the worker running your code stopped before replying: CPU limit")
    assert stopped["of"] == 1000 and 2 <= stopped["epochs"] == len(value["epochs"]) < 1000
    assert [float(v) for v in value["result"][0]] == [stopped["epochs"]] * 3
    assert budget.stop_note(value).startswith(f"stopped by the grader's limit after {stopped['epochs']} of 1000")


def test_a_training_without_epochs_sent_dies_with_the_cpu_limit_named(tmp_path, monkeypatch):
    monkeypatch.setattr(budget, "STARTUP_SECONDS", 3.0)
    monkeypatch.setattr(budget, "BACKSTOP_FACTOR", 100.0)
    sub = toy(tmp_path, cpu=1000.0)
    run = runner.run_calls(sub, "toy_train", "train", [train_call(3)], TRAIN_LIMITS, cpu_budget=1.0)
    assert not run.ok and "CPU limit" in run.reason and "CPU time" in run.reason


def test_untrusted_partial_messages_are_validated():
    frame = runner.kinds.PARTIAL_MAGIC + (5).to_bytes(8, "little") + b"short"
    assert runner.split_partials(frame) == ([], b"")
    assert runner.split_partials(b"NNKIT1\nrest") == ([], b"NNKIT1\nrest")
    good = runner.kinds.PARTIAL_MAGIC
    data = runner.protocol.encode({"call": "train", "epoch": "not a list"})
    good += len(data).to_bytes(8, "little") + data
    messages, rest = runner.split_partials(good)
    assert rest == b"" and runner.kinds.KINDS["train_epochs"].from_partials(messages, {"id": "train",
                                                                                      "cpu_budget": 1.0}, "") is None


SHARES = '''
import json
import os
import time


def train(x, epochs=3, rng=None, on_epoch_end=None):
    import tensorflow as tf

    time.sleep(1.5)  # both workers hold their slots at once
    threads = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                                        "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")}
    threads["tf_intra_op"] = str(tf.config.threading.get_intra_op_parallelism_threads())
    threads["tf_inter_op"] = str(tf.config.threading.get_inter_op_parallelism_threads())
    return json.dumps({"cpus": sorted(os.sched_getaffinity(0)), "threads": threads})
'''


def test_concurrent_trainings_get_disjoint_core_shares(tmp_path, monkeypatch):
    """Two slots of one core each: two trainings at once run on different cores, with one thread in every pool
    (BLAS, OpenMP, TensorFlow's), as read inside the workers."""
    cpus = slots.available_cpus()
    if len(cpus) < 2:
        pytest.fail("this test needs two cores")  # every machine of this project has two
    folder = slots.create(tmp_path / "slots", slots.layout(2, cpus))
    monkeypatch.setenv(slots.ENV, str(folder))
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "toy_train.py").write_text(SHARES)
    for path in (tmp_path, sub, sub / "toy_train.py"):
        path.chmod(0o755)
    runs = {}

    def go(i):
        runs[i] = runner.run_calls(sub, "toy_train", "train", [train_call(1)], TRAIN_LIMITS, preload=("tensorflow",),
                                   cpu_budget=60.0)
    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seen = [json.loads(runs[i].calls["train"]["value"]["result"]) for i in range(2)]
    assert {tuple(s["cpus"]) for s in seen} == {(cpus[0],), (cpus[1],)}
    assert {runs[i].slot for i in range(2)} == {(cpus[0],), (cpus[1],)}
    assert all(set(s["threads"].values()) == {"1"} for s in seen)


def test_one_slot_runs_trainings_one_after_the_other(tmp_path, monkeypatch):
    folder = slots.create(tmp_path / "slots", [slots.available_cpus()])
    monkeypatch.setenv(slots.ENV, str(folder))
    held = []

    def hold():
        with slots.training_slot() as share:
            held.append(("in", time.monotonic(), share.threads))
            time.sleep(0.5)
            held.append(("out", time.monotonic(), share.threads))
    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [h[0] for h in sorted(held, key=lambda h: h[1])] == ["in", "out", "in", "out"]
    assert {h[2] for h in held} == {len(slots.available_cpus())}


def test_slot_layout_never_shares_a_core():
    assert slots.layout(2, [0, 1]) == [[0], [1]]
    assert slots.layout(1, [0, 1]) == [[0, 1]]
    assert slots.layout(8, [0, 1]) == [[0], [1]]
    assert slots.layout(2, [0, 1, 2, 3, 4]) == [[0, 1], [2, 3]]


def test_a_grading_run_names_its_slot_folder_only_while_it_runs(monkeypatch):
    monkeypatch.delenv(slots.ENV, raising=False)
    with slots.for_run(2) as n:
        folder = os.environ[slots.ENV]
        assert n == min(2, len(slots.available_cpus())) and os.path.isfile(os.path.join(folder, "slots.json"))
    assert slots.ENV not in os.environ and not os.path.exists(folder)


def _grade_training(tmp_path, stem: str, source: str, check: str) -> dict:
    import subprocess

    from grader.checking.command import checks_command
    from tests.conftest import ROOT

    sub = tmp_path / "graded"
    sub.mkdir()
    (sub / f"{stem}.py").write_text(source, encoding="utf-8")
    record = tmp_path / "record.json"
    cmd = checks_command([registry.by_stem(stem)], sub, record, hidden=False, training=True) + ["-k", check]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    return {c["nodeid"].split("::")[-1]: c for c in json.loads(record.read_text())["checks"]}[check]


def test_slow_q4_training_stopped_at_the_budget_earns_what_it_reached(tmp_path, monkeypatch):
    """The reference Q4 with 11 CPU-seconds burnt per epoch, under a budget of 10 CPU-seconds: the first epoch
    ends past the budget whatever its own cost, so training stops after it, and that epoch is replayed and graded."""
    from tests.conftest import mutate, solution_source

    slow = mutate(solution_source("q4_numpy_backprop"),
                  "        if on_epoch_end is not None:\n            on_epoch_end(epoch, weights, biases)\n",
                  "        t = __import__('os').times()\n        while sum(__import__('os').times()[:2]) < t.user + t.system + 11:\n"
                  "            pass\n"
                  "        if on_epoch_end is not None:\n            on_epoch_end(epoch, weights, biases)\n")
    monkeypatch.setenv(budget.ENV, "q4=10")
    check = _grade_training(tmp_path, "q4_numpy_backprop", slow, "test_training_reaches_70_percent")
    assert check["score"] > 0, check["output"]
    assert "stopped at the budget after 1 of 3 epochs (10 CPU-seconds)" in check["output"]
    assert "test accuracy after 1 epoch:" in check["output"]
    assert "the one epoch replayed and confirmed" in check["output"]


def test_long_q3_training_stopped_at_the_budget_earns_partial_credit(tmp_path, monkeypatch):
    """The reference Q3 asks for 18 epochs (15.5-19 CPU-seconds of training measured); under a budget of 10
    CPU-seconds fit stops after some of them, and the model reached is graded with the note."""
    from tests.conftest import solution_source

    monkeypatch.setenv(budget.ENV, "q3=10")
    check = _grade_training(tmp_path, "q3_fashion_mnist", solution_source("q3_fashion_mnist"),
                            "test_trained_model_test_accuracy")
    assert 0 < check["score"], check["output"]
    assert "stopped at the budget after " in check["output"] and " of 18 epochs (10 CPU-seconds)" in check["output"]


@pytest.mark.parametrize("stem,function", [("q3_fashion_mnist", "train_model"), ("q4_numpy_backprop", "train")])
def test_the_assignment_states_the_declared_budget(stem, function):
    """The stub docstring and the notebook name the budget question.toml declares (README: "Training budgets")."""
    from tests.conftest import ROOT

    stated = f"{function} gets {budget.statement(registry.by_stem(stem).training_cpu_seconds)} on the grading machine"
    assert stated in " ".join((ROOT / "solutions" / f"{stem}.py").read_text().split())
    notebook = json.loads((ROOT / "solutions" / f"{stem}.ipynb").read_text())
    text = " ".join("".join(c["source"]).replace("`", "") for c in notebook["cells"]).split()
    assert f"{function} gets {budget.statement(registry.by_stem(stem).training_cpu_seconds)}" in " ".join(text)
