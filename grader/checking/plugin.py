"""The pytest plugin that turns checks into a report card.

A check is a plain test with ``@pytest.mark.check(points=..., hidden=...)`` whose first docstring line is the title a
student sees. The plugin runs the question's worker lazily (one sandboxed worker per question and group, with the
calls every collected check of that question declared in its module's ``CALLS``), records each check's score and
message, and writes them to ``--record`` as JSON for :mod:`grader.checking.scoring`. Which question a check
belongs to is the question folder its module is in (:mod:`grader.registry`); its part (``q1a``) is the marker's
``part``, by default the question's label.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import pytest

from grader import registry
from grader.checking import messages
from grader.files import atomic_write_text
from grader.running import sandbox
from grader.running.runner import Call, StudentFailure, WorkerRun, run_calls

CREDIT = pytest.StashKey[float]()
NOTE = pytest.StashKey[str]()
RECORDS = pytest.StashKey[list]()
WORKERS = pytest.StashKey["Workers"]()
POINTS = pytest.StashKey[float]()
QUESTION = pytest.StashKey[registry.Question]()
PART = pytest.StashKey[str]()

# Per group: the wall-clock budget and memory for one worker. Training budgets hold the reference with a margin of
# about 3x its measured time on 2 cores (README, "Measured figures").
GROUP_LIMITS = {
    "main": sandbox.Limits(timeout=60, memory_mb=4096),
    "train": sandbox.Limits(timeout=300, memory_mb=6144),
}
# Per submission, sleeping counted like working (WallBudget): the non-training workers of one question share 90 s and
# those of all questions 150 s; each training worker keeps its own 300 s. So one submission's workers take at most
# 150 s plus 300 s per training worker. The reference's eight non-training workers took 19.7 s together on 2 loaded
# cores (load 4.6), Q3's two (which import TensorFlow) 15.4 s of it.
SHARED_BUDGETS = {"main": (90.0, 150.0)}
MIN_GRANT = 2.0  # less than this cannot start a worker and import numpy
# A worker started beside others with less than its sequential grant gets at least this (Workers._grant): some
# times what any of the reference's workers takes on loaded cores (Q3's, which import TensorFlow: 8.5 s)
PROVISIONAL_MIN = 25.0


def pytest_addoption(parser):
    g = parser.getgroup("nnkit", "autograder")
    g.addoption("--submission", help="normalised submission directory (holds <stem>.py files)")
    g.addoption("--submission-info", help="JSON from grader.submission: per-question load errors")
    g.addoption("--record", help="write check results here as JSON")
    g.addoption("--artifacts", help="directory for plots made from the submission's outputs")
    g.addoption("--require-sandbox", action="store_true", help="refuse to run student code without bubblewrap")
    g.addoption("--skip-training", action="store_true", help="skip the checks that train a network")


def pytest_configure(config):
    config.addinivalue_line("markers", "check(points, hidden=False, training=False, part=None): a graded check")
    config.stash[RECORDS] = []


def pytest_collection_modifyitems(config, items):
    # A parametrized check's points are shared evenly by its cases.
    counts: dict = {}
    for item in items:
        key = (item.module.__name__, getattr(item, "originalname", item.name))
        counts[key] = counts.get(key, 0) + 1
    for item in items:
        marker = item.get_closest_marker("check")
        if marker is None:
            raise pytest.UsageError(f"{item.nodeid}: every check needs @pytest.mark.check(points=...)")
        if not (item.function.__doc__ or "").strip():
            raise pytest.UsageError(f"{item.nodeid}: every check needs a docstring (its title)")
        question = registry.of_module(item.module.__name__)
        if question is None:
            raise pytest.UsageError(f"{item.nodeid}: a check must live in a question folder, questions/<stem>/")
        part = marker.kwargs.get("part") or question.label
        if part not in question.parts and part != question.label:
            raise pytest.UsageError(f"{item.nodeid}: part {part!r} is not one of {question.stem}'s parts "
                                    f"{sorted(question.parts)} (question.toml)")
        if bool(marker.kwargs.get("hidden", False)) != registry.is_hidden_module(item.module.__name__):
            raise pytest.UsageError(f"{item.nodeid}: a check marked hidden=True belongs in hidden/checks.py, "
                                    f"and only there")
        item.stash[QUESTION] = question
        item.stash[PART] = part
        total = float(marker.kwargs.get("points", marker.args[0] if marker.args else 1))
        item.stash[POINTS] = total / counts[(item.module.__name__, getattr(item, "originalname", item.name))]
        if config.getoption("--skip-training") and marker.kwargs.get("training"):
            item.add_marker(pytest.mark.skip(reason="training check not run locally (run with FULL=1)"))


def is_hidden(module) -> bool:
    return registry.is_hidden_module(module.__name__)


def stem_of(module) -> str:
    question = registry.of_module(module.__name__)
    return question.stem if question else ""


# How many of the ``AHEAD_GROUPS`` workers run at once, started ahead of the checks that read them (Workers.start_ahead).
AHEAD = 2
AHEAD_GROUPS = ("main",)


class Workers:
    """Runs each question's worker once, with the calls all its collected checks declared.

    The workers of ``AHEAD_GROUPS`` are started ahead, in the order the checks will read them, ``AHEAD`` at a time,
    while the trusted side runs checks: a check waits only for the worker it reads. Running side by side does not
    change what a worker is given (:meth:`_grant`): a worker ends as it would have if the workers had run one after
    another, each granted what the wall-clock budgets had left. Training workers start when their check asks (they
    have training slots of their own, :mod:`grader.running.slots`).
    """

    def __init__(self, config, items):
        self.config = config
        self.items = items
        self.runs: dict[tuple[str, str, bool], WorkerRun] = {}
        info_path = config.getoption("--submission-info")
        self.info = json.loads(Path(info_path).read_text()) if info_path else {}
        sub = config.getoption("--submission")
        self.root = Path(sub) if sub else None
        self.budget = WallBudget()
        self._ahead: dict[tuple[str, str, bool], Future] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._changed = threading.Condition()
        self._running: dict[tuple[str, str, bool], float] = {}  # worker -> the wall time it was granted
        self._queue: list[tuple[str, str, bool]] = []  # the workers started ahead, in check order
        self._taken: set[tuple[str, str, bool]] = set()  # those of them granted (or refused) their budget

    def start_ahead(self) -> None:
        """Queue the ``AHEAD_GROUPS`` workers of the collected checks, in collection order."""
        keys = []
        for item in self.items:
            mod = item.module
            for group in AHEAD_GROUPS:
                key = (stem_of(mod), group, is_hidden(mod))
                if key not in keys and any(c.group == group for c in getattr(mod, "CALLS", [])):
                    keys.append(key)
        if not keys:
            return
        self._queue = keys
        self._pool = ThreadPoolExecutor(max_workers=AHEAD, thread_name_prefix="nnkit-ahead")
        for key in keys:
            self._ahead[key] = self._pool.submit(self._run, *key)

    def close(self) -> None:
        """Drop the workers no check read (a deselected or stopped session) and wait for those running."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def calls_for(self, stem: str, group: str, hidden: bool = False) -> list[Call]:
        calls: dict[str, Call] = {}
        seen_modules = set()
        for item in self.items:
            mod = item.module
            if stem_of(mod) != stem or mod in seen_modules or is_hidden(mod) != hidden:
                continue
            seen_modules.add(mod)
            for call in getattr(mod, "CALLS", []):
                if call.group != group:
                    continue
                if call.id in calls and calls[call.id] != call:
                    raise pytest.UsageError(f"{mod.__name__}: call id {call.id!r} reused with a different call")
                calls[call.id] = call
        return list(calls.values())

    def run(self, stem: str, group: str, hidden: bool = False) -> WorkerRun:
        # Hidden checks get workers of their own: a visible check's message (which may quote what the student's
        # code read from its job) must never carry a hidden input.
        key = (stem, group, hidden)
        if key not in self.runs:
            future = self._ahead.get(key)
            self.runs[key] = future.result() if future is not None and not future.cancelled() else \
                self._run(stem, group, hidden)
        return self.runs[key]

    def _run(self, stem, group, hidden) -> WorkerRun:
        try:
            run = self._start(stem, group, hidden)
        finally:
            self._pass_turn((stem, group, hidden))  # also when it failed before taking its turn
        run.hidden = hidden
        return run

    def _grant(self, key, alone: bool = False) -> tuple[sandbox.Limits, str, bool]:
        """Wait until ``key``'s worker may start; its limits, a refusal, and whether the grant is provisional.

        Beside running workers, a worker gets what the budgets would leave it if they used all they were granted.
        If that is its whole sequential grant, it starts; if it is less but at least ``PROVISIONAL_MIN``, it starts
        provisionally: should it time out, :meth:`_start` runs it again alone with the sequential grant. Otherwise,
        and always when ``alone``, it waits for the others to finish."""
        stem, group, _ = key
        with self._changed:
            while not self._my_turn(key):
                self._changed.wait()
            while True:
                limits, refusal = self.budget.grant(stem, group)
                provisional = False
                if not self._running:
                    break
                if not alone and not refusal:
                    reserved = WallBudget(self.budget.shared)
                    reserved.used = dict(self.budget.used)
                    for (other_stem, other_group, _), seconds in self._running.items():
                        reserved.add(other_stem, other_group, seconds)
                    worst, worst_refusal = reserved.grant(stem, group)
                    if not worst_refusal and worst.timeout >= min(limits.timeout, PROVISIONAL_MIN):
                        provisional = worst.timeout < limits.timeout
                        limits = worst
                        break
                self._changed.wait()
            self._running[key] = limits.timeout
            self._pass_turn(key)
            return limits, refusal, provisional

    def _my_turn(self, key) -> bool:
        """Workers started ahead take their budgets in check order, as they would one after another."""
        if key not in self._queue:
            return True
        return all(k in self._taken for k in self._queue[:self._queue.index(key)])

    def _pass_turn(self, key) -> None:
        with self._changed:
            self._taken.add(key)
            self._changed.notify_all()

    def _unstarted(self, stem, group) -> WorkerRun | None:
        """The run of a worker that cannot start (no submission, the question's file missing or unreadable)."""
        error = (self.info.get(stem) or {}).get("error", "")
        if self.root is None:
            return WorkerRun(stem, group, ok=False, reason="no --submission given")
        if error:
            return WorkerRun(stem, group, ok=False, reason=error)
        if not (self.root / f"{stem}.py").is_file():
            return WorkerRun(stem, group, ok=False,
                             reason=f"{stem}.py (or {stem}.ipynb) was not found in the submission")
        return None

    def _finish(self, key, run: WorkerRun | None, limits: sandbox.Limits) -> None:
        """``key``'s worker is done; ``run`` is charged to the budgets unless None (a provisional run timed out)."""
        with self._changed:
            self._running.pop(key, None)
            if run is not None:
                self.budget.charge(key[0], key[1], run, limits)
            self._changed.notify_all()

    def _start(self, stem, group, hidden) -> WorkerRun:
        key = (stem, group, hidden)
        if (unstarted := self._unstarted(stem, group)) is not None:
            return unstarted
        calls = self.calls_for(stem, group, hidden)
        question = registry.by_stem(stem)
        for alone in (False, True):
            limits, refusal, provisional = self._grant(key, alone)
            run = None
            try:
                if refusal:
                    return WorkerRun(stem, group, ok=False, reason=refusal)
                run = run_calls(self.root, stem, group, calls, limits, preload=question.preload,
                                require_sandbox=self.config.getoption("--require-sandbox"),
                                forbid=(question.forbid_imports, question.heading),
                                cpu_budget=_training_budget(question, group))
                if provisional and run.timed_out:
                    run = None  # not charged: it runs again alone, as it would have run one after another
                    continue
                return run
            finally:
                self._finish(key, run, limits)
        raise AssertionError("unreachable: the second attempt is never provisional")


def _training_budget(question, group: str) -> float | None:
    """The CPU seconds each call of a training worker gets (grader.running.budget); None for other workers."""
    from grader.running import budget

    return budget.cpu_budget(question) if group == "train" else None


class WallBudget:
    """The wall-clock time one submission's workers may use, sleeping counted like working.

    The workers of a group in ``SHARED_BUDGETS`` share ``(per question, per submission)`` seconds: each is given
    what is left of both (at most its group's own limit), and none starts once less than ``MIN_GRANT`` is left.
    Groups not listed (training) keep their own limit per worker.
    """

    def __init__(self, shared: dict[str, tuple[float, float]] | None = None):
        self.shared = SHARED_BUDGETS if shared is None else shared
        self.used: dict[tuple[str, str | None], float] = {}

    def _left(self, stem: str, group: str) -> tuple[float, float]:
        per_question, per_submission = self.shared[group]
        return (per_question - self.used.get((group, stem), 0.0),
                per_submission - self.used.get((group, None), 0.0))

    def grant(self, stem: str, group: str) -> tuple[sandbox.Limits, str]:
        """The limits for the next worker of ``stem`` and ``group``, or a reason for the student not to start it."""
        limits = GROUP_LIMITS[group]
        if group not in self.shared:
            return limits, ""
        left = min(self._left(stem, group))
        if left < MIN_GRANT:
            return limits, f"this part was not run: {self.explain(stem, group)}"
        return dataclasses.replace(limits, timeout=min(limits.timeout, left)), ""

    def add(self, stem: str, group: str, seconds: float) -> None:
        if group not in self.shared:
            return
        for key in ((group, stem), (group, None)):
            self.used[key] = self.used.get(key, 0.0) + seconds

    def charge(self, stem: str, group: str, run: WorkerRun, limits: sandbox.Limits) -> None:
        """Count ``run``'s wall time; if it was stopped at a limit the budget had cut, its reason says so."""
        if group not in self.shared:
            return
        self.add(stem, group, run.wall)
        if not run.ok and limits.timeout < GROUP_LIMITS[group].timeout and run.wall >= 0.95 * limits.timeout:
            run.reason = f"{run.reason}; it was given only {limits.timeout:.0f} s: {self.explain(stem, group)}"

    def explain(self, stem: str, group: str) -> str:
        per_question, per_submission = self.shared[group]
        left_question, left_submission = self._left(stem, group)
        if left_question <= left_submission:
            spent = per_question - left_question
            return (f"the time budget for {stem} ran out (its checks' workers may run your code for {per_question:g} s "
                    f"in total, waiting and sleeping included; {spent:.0f} s were used)")
        spent = per_submission - left_submission
        return (f"the time budget for your whole submission ran out (the workers of all questions' checks except "
                f"training may run your code for {per_submission:g} s in total, waiting and sleeping included; "
                f"{spent:.0f} s were used)")


class Student:
    """What a check sees of one question: decoded return values, or a StudentFailure explaining why not."""

    def __init__(self, workers: Workers, stem: str, calls: dict[str, Call], hidden: bool = False):
        self.workers = workers
        self.stem = stem
        self._calls = calls
        self.hidden = hidden

    def _result(self, call_id: str) -> dict:
        __tracebackhide__ = True
        call = self._calls[call_id]
        run = self.workers.run(self.stem, call.group, self.hidden)
        if not run.ok:
            raise StudentFailure(run.reason)
        if run.import_error:
            raise StudentFailure(f"importing {self.stem}.py failed, so no check of this question can run:\n"
                                 f"{run.import_error}")
        out = run.calls.get(call_id)
        if not isinstance(out, dict):
            raise StudentFailure(f"{self.describe(call_id)} produced no result")
        if not out.get("ok"):
            raise StudentFailure(f"calling {self.describe(call_id)} failed:\n{out.get('error', '')}")
        return out

    def value(self, call_id: str):
        __tracebackhide__ = True
        return self._result(call_id)["value"]

    def args_after(self, call_id: str) -> list:
        __tracebackhide__ = True
        return self._result(call_id)["args"]

    def describe(self, call_id: str) -> str:
        return describe_call(self._calls[call_id], self.hidden)


@pytest.fixture(scope="session")
def workers(request) -> Workers:
    w = Workers(request.config, request.session.items)
    request.config.stash[WORKERS] = w
    w.start_ahead()
    yield w
    w.close()


@pytest.fixture(scope="module")
def student(request, workers) -> Student:
    mod = request.module
    return Student(workers, stem_of(mod), {c.id: c for c in getattr(mod, "CALLS", [])}, hidden=is_hidden(mod))


@pytest.fixture
def credit(request):
    """Call ``credit(fraction)`` to award part of a check's points; the check may then still fail with a message."""
    def give(fraction: float) -> None:
        request.node.stash[CREDIT] = min(1.0, max(0.0, float(fraction)))
    return give


@pytest.fixture
def note(request):
    """Call ``note(text)`` to tell the student what the check measured (e.g. the accuracy reached, a plot left out):
    the whole output of a passing check, the first line of a failing one's."""
    def add(text: str) -> None:
        request.node.stash[NOTE] = str(text)
    return add


@pytest.fixture(scope="session")
def artifacts(request) -> Path | None:
    path = request.config.getoption("--artifacts")
    if not path:
        return None
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "setup" and report.passed:
        return
    if report.when == "teardown" and report.passed:
        return
    if report.when == "call" or report.failed or report.skipped:
        _record(item, call, report)


def _record(item, call, report):
    records = item.config.stash[RECORDS]
    if any(r["nodeid"] == recorded_nodeid(item) for r in records):
        return
    marker = item.get_closest_marker("check")
    points = item.stash[POINTS]
    title = (item.function.__doc__ or "").strip().splitlines()[0]
    internal = False
    if report.passed:
        status, fraction, output = "passed", 1.0, item.stash.get(NOTE, "")
    elif report.skipped:
        status, fraction = "skipped", 0.0
        output = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        output = output.removeprefix("Skipped: ")
    else:
        status = "failed"
        fraction = item.stash.get(CREDIT, 0.0)
        exc = call.excinfo.value if call.excinfo else None
        if isinstance(exc, AssertionError):
            output = str(exc) or "the check failed"
            if item.stash.get(NOTE, ""):  # what the check measured (a reached accuracy, a plot left out) comes first
                output = item.stash[NOTE] + "\n" + output
        else:
            internal = True
            output = "internal grader error (not your fault; tell the course staff):\n" + internal_error_text(
                exc, hidden=bool(marker.kwargs.get("hidden", False)))
    if status == "failed" and not internal:
        output = messages.at_level(output, messages.hint_level(item.stash[QUESTION]))
    output = messages.fit(output)
    records.append({
        "nodeid": recorded_nodeid(item),
        "stem": item.stash[QUESTION].stem,
        "part": item.stash[PART],
        "title": title,
        "points": points,
        "score": round(points * fraction, 6),
        "status": status,
        "hidden": bool(marker.kwargs.get("hidden", False)),
        "training": bool(marker.kwargs.get("training", False)),
        "output": output,
        "internal_error": internal,
    })


def describe_call(call: Call, hidden: bool) -> str:
    """How messages name a call: with its arguments, except a hidden check's (its inputs are unseen)."""
    return f"{call.function}(<a hidden check's inputs>)" if hidden else call.describe()


def recorded_nodeid(item) -> str:
    """The node id as recorded: a hidden check's parameters (its unseen inputs) become an opaque ``[case k]``,
    k counting the check's cases from 1 in collection order."""
    if "[" not in item.nodeid or not is_hidden(item.module):
        return item.nodeid
    base = item.nodeid[:item.nodeid.index("[")]
    cases = [other.nodeid for other in item.session.items if other.nodeid.startswith(base + "[")]
    return f"{base}[case {cases.index(item.nodeid) + 1}]"


def internal_error_text(exc: BaseException | None, hidden: bool) -> str:
    """An internal error for the record without any source line: the exception's type, its message and the frames'
    places; for a hidden check the type alone (its message may quote a hidden input)."""
    if exc is None:
        return "no exception recorded"
    if hidden:
        return f"{type(exc).__name__} in a hidden check"
    head = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    places = [f"  {Path(f.filename).name} line {f.lineno}, in {f.name}" for f in traceback.extract_tb(exc.__traceback__)]
    return "\n".join([head, *places[-6:]])


def pytest_sessionfinish(session, exitstatus):
    path = session.config.getoption("--record")
    if not path:
        return
    workers = session.config.stash.get(WORKERS, None)
    runs = []
    if workers is not None:
        for run in workers.runs.values():
            d = asdict(run)
            d.pop("calls")
            runs.append(d)
    data = {"checks": session.config.stash[RECORDS], "workers": runs, "stems": list(registry.stems())}
    atomic_write_text(Path(path), json.dumps(data, indent=1, default=str))
