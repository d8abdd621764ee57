"""Trusted side of a worker run: write the job, start the sandbox, decode what comes back.

A check never sees a student object: it gets plain data decoded by :mod:`grader.running.protocol`, and a
:class:`StudentFailure` (an AssertionError, so pytest reports it as a failed check) with a student-facing message
when a call failed, the import failed or the worker died.
"""

from __future__ import annotations

import dataclasses
import json
import struct
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader.running import budget, kinds, protocol, sandbox, slots

RUNNING = Path(__file__).resolve().parent
# Student text is capped once, here, where it enters the trusted side: every string of a reply (error messages,
# exception text, returned strings, dict keys) and the kept stdout and stderr.
MAX_TEXT_CHARS = 4000
MAX_STREAM_CHARS = 64000
NNKIT = RUNNING.parents[1] / "nnkit"
# the worker and what it imports, mounted read-only at /kit in the sandbox
WORKER_FILES = ("worker.py", "kinds.py", "protocol.py")
LIBRARY = "/kit/nnkit"


class StudentFailure(AssertionError):
    """Something in the student's code stopped a check; the message is written for the student."""


@dataclass(frozen=True)
class Interp:
    """A callable for the student, built in the worker by interpolating ``ys`` over the grid ``xs``."""
    xs: np.ndarray
    ys: np.ndarray


@dataclass(frozen=True)
class Rng:
    """A fresh ``np.random.default_rng(seed)`` built in the worker."""
    seed: int


@dataclass(frozen=True)
class Scaled:
    """A uint8 array sent as is and turned into ``dtype`` divided by ``divisor`` in the worker (saves the pipe)."""
    array: np.ndarray
    divisor: float = 255.0
    dtype: str = "float64"


@dataclass
class Call:
    """One thing to ask the student's module; ``id`` must be unique within its question."""
    id: str
    function: str
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    task: str = "call"
    group: str = "main"
    return_args: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def spec(self) -> dict:
        """What the worker's task kind reads (everything but the arguments, which are encoded separately)."""
        return {"id": self.id, "function": self.function, "task": self.task, "return_args": self.return_args,
                **self.extra}

    def describe(self) -> str:
        """How a message names this call: arguments described (shape, dtype, range), never dumped."""
        from grader.checking.messages import describe_value

        def short(a):
            if isinstance(a, Scaled):
                return f"<{a.dtype} array {a.array.shape}, values 0 to 1>"
            if isinstance(a, Interp):
                return "f"
            if isinstance(a, Rng):
                return f"np.random.default_rng({a.seed})"
            return describe_value(a)
        args = ["<training data>"] if callable(self.args) else [short(a) for a in self.args]
        parts = args + [f"{k}={short(v)}" for k, v in self.kwargs.items()]
        if self.extra.get("train_function"):  # keras_train: the model comes from this call's function
            return f"{self.extra['train_function']}({self.function}(), {', '.join(parts)})"
        return f"{self.function}({', '.join(parts)})"


@dataclass
class WorkerRun:
    stem: str
    group: str
    ok: bool                      # the worker replied with a well-formed message
    reason: str                   # why not, for the student
    import_error: str = ""
    calls: dict = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    sandboxed: bool = False
    mode: str = "none"            # the sandbox that ran it: "bubblewrap", "landlock" or "none"
    started: bool = False         # False when there was nothing to run (missing or unreadable file)
    hidden: bool = False          # ran the hidden checks' calls: never quoted to the student
    wall: float = 0.0
    timings: dict = field(default_factory=dict)
    cpu: float = 0.0              # CPU seconds of the worker's process tree (the sandbox's last sample)
    slot: tuple[int, ...] = ()    # the cores of the training slot it ran in, () outside slots
    timed_out: bool = False       # killed at its wall-clock limit


class _JobWriter:
    def __init__(self, arrays_dir: Path):
        self.dir = arrays_dir
        self.n = 0

    def _save(self, arr: np.ndarray) -> str:
        name = f"a{self.n}"
        self.n += 1
        np.save(self.dir / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        return name

    def encode(self, x):
        if isinstance(x, np.ndarray):
            return {"$npy": self._save(x)}
        if isinstance(x, Scaled):
            return {"$npy": self._save(x.array), "divisor": x.divisor, "dtype": x.dtype}
        if isinstance(x, Interp):
            name = f"f{self.n}"
            self.n += 1
            np.save(self.dir / f"{name}_x.npy", np.asarray(x.xs, dtype=np.float64), allow_pickle=False)
            np.save(self.dir / f"{name}_y.npy", np.asarray(x.ys, dtype=np.float64), allow_pickle=False)
            return {"$interp": name}
        if isinstance(x, Rng):
            return {"$rng": int(x.seed)}
        if isinstance(x, dict):
            return {k: self.encode(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [self.encode(v) for v in x]
        if isinstance(x, (np.floating, np.integer)):
            return x.item()
        return x


def run_calls(submission_root: Path, stem: str, group: str, calls: list[Call], limits: sandbox.Limits,
              preload: tuple[str, ...] = (), require_sandbox: bool = False,
              forbid: tuple[tuple[str, ...], str] = ((), ""), cpu_budget: float | None = None) -> WorkerRun:
    """Run ``calls`` against ``submission_root/<stem>.py`` in one sandboxed worker and decode the reply.

    ``forbid``: (top-level packages, the question's heading): the worker makes them placeholders and the sandbox
    hides their files (:func:`forbidden_paths`). ``cpu_budget``: a training worker, whose calls get that many CPU
    seconds each (:mod:`grader.running.budget`); it runs in a training slot (:mod:`grader.running.slots`)."""
    if cpu_budget is None:
        return _run_calls(submission_root, stem, group, calls, limits, preload, require_sandbox, forbid, None, None)
    with slots.training_slot() as share:
        return _run_calls(submission_root, stem, group, calls, budget.limits_for(limits, cpu_budget), preload,
                          require_sandbox, forbid, cpu_budget, share)


def _run_calls(submission_root, stem, group, calls, limits, preload, require_sandbox, forbid, cpu_budget,
               share) -> WorkerRun:
    student = submission_root / f"{stem}.py"
    env = worker_env()
    if share is not None:
        env |= slots.thread_env(share.threads)
        limits = dataclasses.replace(limits, cpus=share.cpus)
    budgeted = {} if cpu_budget is None else {"cpu_budget": float(cpu_budget)}
    with tempfile.TemporaryDirectory(prefix="nnkit-job-") as tmp:
        job = Path(tmp) / "job"
        (job / "arrays").mkdir(parents=True)
        writer = _JobWriter(job / "arrays")
        request = {
            "module": stem,
            "preload": list(preload),
            "forbid_imports": {"names": list(forbid[0]), "question": forbid[1]},
            "calls": [{**c.spec(), **budgeted, "args": writer.encode(c.args() if callable(c.args) else c.args),
                       "kwargs": writer.encode(c.kwargs)} for c in calls],
        }
        (job / "request.json").write_text(json.dumps(request))
        binds = {
            str(job): "/job",
            str(submission_root): "/submission",
            **{str(RUNNING / name): f"/kit/{name}" for name in WORKER_FILES},
            # the kit's shared library (loader, gradient check) is part of the student bundle; the worker imports
            # it from there (NNKIT_LIBRARY), whatever an installed or editable copy elsewhere would resolve to
            str(NNKIT): LIBRARY,
        }
        argv = [sys.executable, "-E", "-s", "-B", "/kit/worker.py", "/job", f"/submission/{student.name}"]
        raw = sandbox.run_sandboxed(argv, ro_binds=binds, env=env, limits=limits,
                                    require_sandbox=require_sandbox,
                                    hide=hidden_paths() + forbidden_paths(forbid[0]))
    run = WorkerRun(stem=stem, group=group, ok=False, reason="", stdout=capped_text(raw.stdout, MAX_STREAM_CHARS),
                    stderr=capped_text(raw.stderr, MAX_STREAM_CHARS), sandboxed=raw.sandboxed, started=True,
                    wall=raw.wall)
    run.mode, run.cpu, run.slot = raw.mode, raw.cpu, tuple(share.cpus) if share is not None else ()
    run.timed_out = raw.timed_out
    partials, final = split_partials(raw.reply or b"")
    if not final and _from_partials(run, calls, partials, budgeted, _death_reason(raw)):
        return run
    if raw.reply is None or not final:
        run.reason = _death_reason(raw)
        return run
    try:
        reply = capped_strings(protocol.decode(final))
    except protocol.ProtocolError as exc:
        run.reason = f"the worker's reply was corrupted ({exc}); did your code write to file descriptor 3?"
        return run
    if not isinstance(reply, dict) or not isinstance(reply.get("calls"), dict):
        run.reason = "the worker's reply was malformed"
        return run
    run.ok = True
    imp = reply.get("import") if isinstance(reply.get("import"), dict) else {}
    if imp.get("ok") is not True:
        run.import_error = str(imp.get("error", "unknown import error"))
    for call in calls:
        out = reply["calls"].get(call.id)
        if out is not None:
            problem = _malformed(out, call)
            run.calls[call.id] = out if not problem else {
                "ok": False, "error": f"the worker's reply for this call was malformed ({problem}); "
                                      f"does your code change the grader's worker?"}
    run.timings = reply.get("timings", {}) if isinstance(reply.get("timings"), dict) else {}
    return run


def split_partials(data: bytes) -> tuple[list, bytes]:
    """The messages a worker sent while its calls ran (:data:`kinds.PARTIAL_MAGIC` frames, decoded; a torn or
    malformed one ends the list) and the bytes after them, the reply."""
    messages = []
    head = len(kinds.PARTIAL_MAGIC) + 8
    while data.startswith(kinds.PARTIAL_MAGIC):
        if len(data) < head:
            return messages, b""
        (length,) = struct.unpack_from("<Q", data, len(kinds.PARTIAL_MAGIC))
        if len(data) < head + length:
            return messages, b""  # cut off mid-message: the worker was killed while sending
        try:
            messages.append(capped_strings(protocol.decode(data[head:head + length])))
        except protocol.ProtocolError:
            return messages, b""
        data = data[head + length:]
    return messages, data


def _from_partials(run: WorkerRun, calls: list[Call], partials: list, budgeted: dict, reason: str) -> bool:
    """Fill ``run`` from what a worker that died without a reply sent while training; False if it sent nothing
    usable. The calls without such messages fail with the worker's death ``reason``."""
    found = {}
    for call in calls:
        kind = kinds.KINDS.get(call.task)
        out = kind.from_partials(partials, {**call.spec(), **budgeted}, reason) if kind is not None and hasattr(
            kind, "from_partials") else None
        if out is not None and not _malformed(out, call):
            found[call.id] = out
    if not found:
        return False
    run.ok = True
    run.calls = {call.id: found.get(call.id, {"ok": False, "error": reason}) for call in calls}
    return True


def capped_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``text`` if it has at most ``limit`` characters, else its start and end around "... (N more characters) ..."."""
    if len(text) <= limit:
        return text
    head, tail = limit * 3 // 4, limit // 4
    return f"{text[:head]}\n... ({len(text) - head - tail} more characters) ...\n{text[len(text) - tail:]}"


def capped_strings(tree, limit: int = MAX_TEXT_CHARS):
    """A decoded reply with every string in it (dict keys too) passed through :func:`capped_text`."""
    if isinstance(tree, str):
        return capped_text(tree, limit)
    if isinstance(tree, dict):
        return {capped_text(k, limit) if isinstance(k, str) else k: capped_strings(v, limit) for k, v in tree.items()}
    if isinstance(tree, list):
        return [capped_strings(v, limit) for v in tree]
    return tree


def _malformed(out, call: Call) -> str:
    """What is wrong with one call's entry in a reply, or "": only the shapes the worker writes reach a check."""
    if not isinstance(out, dict) or not isinstance(out.get("ok"), bool):
        return "not a result"
    if not out["ok"]:
        return ""
    kind = kinds.KINDS.get(call.task)
    return kind.problem(out, call.spec()) if kind else f"unknown task kind {call.task!r}"


def _death_reason(raw) -> str:
    if raw.timed_out:
        return f"your code did not finish within the time limit ({raw.reason})"
    if raw.reason:
        return f"the worker running your code stopped before replying: {raw.reason}"
    return ("the worker running your code exited before replying (status 0): "
            "does your module call sys.exit() or os._exit() at import time?")


def worker_env() -> dict[str, str]:
    return {
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "CUDA_VISIBLE_DEVICES": "",
        "KERAS_BACKEND": "tensorflow",
        "MPLBACKEND": "Agg",
        "NNKIT_LIBRARY": LIBRARY,
        # fixed thread counts: the same results on every machine, and TensorFlow's threads stay under the
        # sandbox's process limit on many-core hosts
        "OMP_NUM_THREADS": "2",
        "TF_NUM_INTRAOP_THREADS": "2",
        "TF_NUM_INTEROP_THREADS": "2",
    }


def forbidden_paths(names) -> list[str]:
    """The installed folders of the top-level packages ``names`` (found without importing them)."""
    import importlib.util

    paths = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        paths += [str(p) for p in (spec.submodule_search_locations or []) if Path(p).is_dir()] if spec else []
    return paths


def hidden_paths() -> list[str]:
    """Data inside the runtime that student code must not read (MNIST's test split ships in a package)."""
    hide = []
    for entry in sys.path:
        p = Path(entry) / "pureml" / "datasets"
        if p.is_dir():
            hide.append(str(p))
    return hide

