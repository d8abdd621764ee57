"""The plugin's workers started ahead (grader.checking.plugin.Workers): side by side, in check order, at most
``AHEAD`` at once, and ending as they would have one after another under the wall-clock budgets."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from grader.checking import plugin
from grader.running.runner import Call, WorkerRun

STEMS = ("q1_expressivity", "q2_softmax_jacobian", "q3_fashion_mnist", "q4_numpy_backprop")


class Config:
    def __init__(self, submission):
        self.options = {"--submission-info": None, "--submission": str(submission), "--require-sandbox": False}

    def getoption(self, name):
        return self.options[name]


class Module:
    """A check module as the plugin reads it: a name and the calls it declares."""

    def __init__(self, name):
        self.__name__ = name
        self.CALLS = [Call(id="hidden" if ".hidden." in name else "visible", function="f")]


def items_for(stems):
    """Stand-ins for collected checks: a visible and a hidden module per question, each declaring one call (named
    "visible" or "hidden")."""
    items = []
    for stem in stems:
        for module in (f"questions.{stem}.checks", f"questions.{stem}.hidden.checks"):
            items.append(SimpleNamespace(module=Module(module)))
    return items


def fake_run_calls(needs, pause, log):
    """run_calls replaced: each worker 'takes' ``needs[(stem, call id)]`` seconds (its wall time as reported; only
    ``pause`` is slept, so that workers overlap) and times out when granted less; ``log`` gets (stem, timeout) as
    workers start, the returned state the most workers seen running at once."""
    lock = threading.Lock()
    state = {"active": 0, "most": 0}

    def run_calls(root, stem, group, calls, limits, **kw):
        with lock:
            state["active"] += 1
            state["most"] = max(state["most"], state["active"])
            log.append((stem, limits.timeout))
        try:
            time.sleep(pause)
        finally:
            with lock:
                state["active"] -= 1
        need = needs.get((stem, calls[0].id), [0.5]).pop(0)
        timed_out = need > limits.timeout
        return WorkerRun(stem, group, ok=not timed_out, reason="timed out" if timed_out else "", started=True,
                         wall=min(need, limits.timeout), timed_out=timed_out)
    return run_calls, state


@pytest.fixture
def submission(tmp_path):
    for stem in STEMS:
        (tmp_path / f"{stem}.py").write_text("")
    return tmp_path


def read_all(workers, wanted):
    """Start ``workers`` ahead, read the runs of ``wanted`` ((stem, hidden) pairs) in that order, then close."""
    workers.start_ahead()
    try:
        return [workers.run(stem, "main", hidden) for stem, hidden in wanted]
    finally:
        workers.close()


def test_workers_run_ahead_two_at_a_time_in_check_order(submission, monkeypatch):
    log = []
    run_calls, state = fake_run_calls({}, 0.2, log)
    monkeypatch.setattr(plugin, "run_calls", run_calls)
    workers = plugin.Workers(Config(submission), items_for(STEMS))
    runs = read_all(workers, [(stem, hidden) for stem in STEMS for hidden in (False, True)])
    assert all(r.ok for r in runs) and [r.hidden for r in runs] == [False, True] * 4
    assert state["most"] == plugin.AHEAD
    assert [stem for stem, _ in log] == [stem for stem in STEMS for _ in (0, 1)]
    # beside its question's other worker, a worker is granted 90 - 60 s, provisionally; none needed more
    assert log[0] == (STEMS[0], 60.0) and {timeout for _, timeout in log} == {60.0, 30.0}


def test_a_worker_cut_short_beside_another_runs_again_alone_with_what_is_left(submission, monkeypatch):
    # Q1's visible worker takes 50 s of the question's 90: one after another, the hidden one would get 40 s and
    # need 35. Started beside the visible one it gets only 90 - 60 (the visible one's whole limit) = 30, times out,
    # and runs again alone with the 40 s it would have had: it ends as it would have, charged once.
    log = []
    run_calls, _ = fake_run_calls({(STEMS[0], "visible"): [50.0], (STEMS[0], "hidden"): [35.0, 35.0]}, 0.2, log)
    monkeypatch.setattr(plugin, "run_calls", run_calls)
    workers = plugin.Workers(Config(submission), items_for(STEMS[:1]))
    visible, hidden = read_all(workers, [(STEMS[0], False), (STEMS[0], True)])
    assert visible.ok and hidden.ok and not hidden.timed_out
    assert log == [(STEMS[0], 60.0), (STEMS[0], 30.0), (STEMS[0], pytest.approx(40.0))]
    assert workers.budget.used[("main", STEMS[0])] == pytest.approx(85.0)


def test_a_worker_that_would_be_cut_below_the_provisional_minimum_waits(submission, monkeypatch):
    # the per-question budget made smaller: beside the visible worker's 60 s the hidden one could get 10 s, under
    # PROVISIONAL_MIN, so it waits and gets what is left (70 - 2 = 68, capped at 60)
    monkeypatch.setattr(plugin, "SHARED_BUDGETS", {"main": (70.0, 150.0)})
    log = []
    run_calls, state = fake_run_calls({(STEMS[0], "visible"): [2.0], (STEMS[0], "hidden"): [1.0]}, 0.2, log)
    monkeypatch.setattr(plugin, "run_calls", run_calls)
    workers = plugin.Workers(Config(submission), items_for(STEMS[:1]))
    runs = read_all(workers, [(STEMS[0], False), (STEMS[0], True)])
    assert all(r.ok for r in runs) and state["most"] == 1
    assert log == [(STEMS[0], 60.0), (STEMS[0], 60.0)]


def test_a_refused_worker_is_refused_as_it_would_be_one_after_another(submission, monkeypatch):
    log = []
    run_calls, _ = fake_run_calls({(STEMS[0], "visible"): [89.0]}, 0.2, log)
    monkeypatch.setattr(plugin, "run_calls", run_calls)
    monkeypatch.setattr(plugin, "GROUP_LIMITS", {**plugin.GROUP_LIMITS,
                                                 "main": plugin.GROUP_LIMITS["main"].__class__(timeout=90)})
    workers = plugin.Workers(Config(submission), items_for(STEMS[:1]))
    visible, hidden = read_all(workers, [(STEMS[0], False), (STEMS[0], True)])
    assert visible.ok and not hidden.ok and "this part was not run" in hidden.reason
    assert len(log) == 1


def test_workers_no_check_read_are_dropped_at_the_end(submission, monkeypatch):
    log = []
    run_calls, _ = fake_run_calls({}, 0.3, log)
    monkeypatch.setattr(plugin, "run_calls", run_calls)
    workers = plugin.Workers(Config(submission), items_for(STEMS))
    workers.start_ahead()
    workers.run(STEMS[0], "main", False)
    workers.close()  # waits for the ones running, never starts the rest
    assert len(log) <= 2 + plugin.AHEAD < 2 * len(STEMS) and len(workers.runs) == 1


def test_a_question_that_cannot_start_does_not_hold_up_the_next(submission, monkeypatch):
    (submission / f"{STEMS[0]}.py").unlink()
    log = []
    run_calls, _ = fake_run_calls({}, 0.1, log)
    monkeypatch.setattr(plugin, "run_calls", run_calls)
    workers = plugin.Workers(Config(submission), items_for(STEMS[:2]))
    runs = read_all(workers, [(stem, hidden) for stem in STEMS[:2] for hidden in (False, True)])
    assert ["was not found" in r.reason for r in runs] == [True, True, False, False]
    assert [stem for stem, _ in log] == [STEMS[1]] * 2
