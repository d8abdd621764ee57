"""The sandboxed worker: imports one student module and runs the calls the trusted grader asked for.

Runs inside bubblewrap as ``python -E -s -B /kit/worker.py /job /submission/<stem>.py``, with this file,
``kinds.py`` and ``protocol.py`` mounted at /kit. It reads ``/job/request.json`` (arrays in
``/job/arrays/*.npy``) and writes one :mod:`protocol` message to file descriptor 3. Everything here runs next to untrusted code, so nothing it returns
is trusted: the grader re-checks every value itself. Its only jobs are to call the student's functions, turn what
comes back into plain data, and report errors in words a student understands.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import time
import traceback
from pathlib import Path

import kinds
import numpy as np
import protocol
from kinds import ReturnTypeError, plain  # noqa: F401 (plain: the tests use it from here)


def describe_error(exc: BaseException, student_file: str) -> str:
    """One short paragraph: the exception and the student's own frames, never ours."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == student_file]
    name = Path(student_file).name
    lines = [f"  {name} line {f.lineno}, in {f.name}: {(f.line or '').strip()}" for f in frames[-4:]]
    if isinstance(exc, SystemExit):
        head = f"called sys.exit({exc.code!r})"
    elif isinstance(exc, KeyboardInterrupt):
        head = "raised KeyboardInterrupt"
    elif isinstance(exc, SyntaxError):
        head = f"SyntaxError: {exc.msg} ({name} line {exc.lineno})"
    else:
        head = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        if isinstance(exc, NotImplementedError) and not str(exc):
            head = "NotImplementedError: this function is still the stub"
    return "\n".join([head, *lines])


DISPLAY_NAMES = {"tensorflow": "TensorFlow", "keras": "Keras", "jax": "JAX", "torch": "PyTorch"}


class UnavailableError(ImportError):
    """Raised on any use of a package the question forbids."""


class Unavailable:
    """What a forbidden package and everything reached through it are: each use raises :class:`UnavailableError`."""

    def __init__(self, message: str):
        object.__setattr__(self, "_message", message)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return Unavailable(object.__getattribute__(self, "_message"))

    def _refuse(self, *args, **kwargs):
        raise UnavailableError(object.__getattribute__(self, "_message"))

    __call__ = __getitem__ = __iter__ = __len__ = __bool__ = __float__ = __int__ = __index__ = _refuse
    __array__ = __enter__ = __setattr__ = __add__ = __mul__ = __matmul__ = __sub__ = __truediv__ = _refuse


class ForbiddenModule(type(sys)):
    """A placeholder for a forbidden package or one of its submodules: importing works, every attribute is an
    :class:`Unavailable`."""

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return Unavailable(self.__dict__["_nnkit_message"])


class ForbiddenFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """First on ``sys.meta_path``: ``names`` and their submodules import as :class:`ForbiddenModule`."""

    def __init__(self, names, question: str):
        self.names = set(names)
        self.question = question

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] not in self.names:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        top = spec.name.partition(".")[0]
        module = ForbiddenModule(spec.name)
        module._nnkit_message = (f"{DISPLAY_NAMES.get(top, top)} is not available in {self.question}: the gradients "
                                 f"must be written in numpy")
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def forbid_imports(names, question: str) -> None:
    """Make ``names`` (top-level packages) placeholders for the rest of this process, already imported or not."""
    if not names:
        return
    finder = ForbiddenFinder(names, question)
    for loaded in [m for m in sys.modules if m.partition(".")[0] in finder.names]:
        del sys.modules[loaded]
    sys.meta_path.insert(0, finder)


def resolve(arg, job: Path):
    """Arguments arrive as JSON; special forms name arrays, callables and symbols."""
    if isinstance(arg, dict):
        if "$npy" in arg:
            arr = np.load(job / "arrays" / f"{arg['$npy']}.npy", allow_pickle=False)
            if "divisor" in arg:
                arr = arr.astype(arg["dtype"]) / np.dtype(arg["dtype"]).type(arg["divisor"])
            return arr
        if "$interp" in arg:
            xs = np.load(job / "arrays" / f"{arg['$interp']}_x.npy", allow_pickle=False)
            ys = np.load(job / "arrays" / f"{arg['$interp']}_y.npy", allow_pickle=False)

            def f(x):
                return np.interp(np.asarray(x, dtype=np.float64), xs, ys)
            return f
        if "$rng" in arg:
            return np.random.default_rng(arg["$rng"])
        return {k: resolve(v, job) for k, v in arg.items()}
    if isinstance(arg, list):
        return [resolve(v, job) for v in arg]
    return arg


def run_task(module, spec: dict, job: Path):
    fn = getattr(module, spec["function"], None)
    if fn is None or not callable(fn):
        raise AttributeError(f"your module has no function {spec['function']}()")
    kind = kinds.KINDS.get(spec.get("task", "call"))
    if kind is None:
        raise ValueError(f"unknown task kind {spec.get('task')!r}")
    args = [resolve(a, job) for a in spec.get("args", [])]
    kwargs = {k: resolve(v, job) for k, v in spec.get("kwargs", {}).items()}
    return kind.run(module, fn, args, kwargs, spec)


def _sender(fd: int):
    """Sends one message on ``fd`` as the trusted side reads it before the reply (kinds.PARTIAL_MAGIC)."""
    import struct

    def send(message: dict) -> None:
        data = protocol.encode(message)
        data = kinds.PARTIAL_MAGIC + struct.pack("<Q", len(data)) + data
        while data:
            data = data[os.write(fd, data):]
    return send


def apply_thread_counts() -> None:
    """TensorFlow's pools sized from TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS, if it is loaded (the slot's
    share of the cores, grader.running.slots)."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(os.environ.get("TF_NUM_INTRAOP_THREADS", "0")))
        tf.config.threading.set_inter_op_parallelism_threads(int(os.environ.get("TF_NUM_INTEROP_THREADS", "0")))
    except (RuntimeError, ValueError):  # already initialised, or no number given
        pass


class _KitLibrary(importlib.abc.MetaPathFinder):
    """Finds the top-level ``nnkit`` in the folder the grader bound (NNKIT_LIBRARY), ahead of any installed or
    editable copy: that one may point into another checkout, which the sandbox does not show."""

    def __init__(self, folder: str):
        self.folder = folder

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "nnkit":
            return None
        return importlib.util.spec_from_file_location(
            "nnkit", os.path.join(self.folder, "__init__.py"), submodule_search_locations=[self.folder])


def use_kit_library() -> None:
    folder = os.environ.get("NNKIT_LIBRARY", "")
    if folder and os.path.isfile(os.path.join(folder, "__init__.py")):
        sys.meta_path.insert(0, _KitLibrary(folder))


def main() -> None:
    job, student_file = Path(sys.argv[1]), sys.argv[2]
    use_kit_library()
    reply_fd = os.dup(3)
    os.close(3)
    kinds.SEND = _sender(reply_fd)
    request = json.loads((job / "request.json").read_text())
    forbid = request.get("forbid_imports") or {}
    forbid_imports(forbid.get("names", []), forbid.get("question", "this question"))
    t0 = time.perf_counter()
    for name in request.get("preload", []):
        __import__(name)
    apply_thread_counts()
    reply = {"timings": {"preload": time.perf_counter() - t0}, "calls": {}}
    # numpy's global generator is left as numpy seeds it (fresh entropy): code that should use the rng it is given
    # but draws from np.random instead is not made deterministic by the grader
    t1 = time.perf_counter()
    module = None
    try:
        spec = importlib.util.spec_from_file_location(request["module"], student_file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[request["module"]] = module
        spec.loader.exec_module(module)
        reply["import"] = {"ok": True}
    except BaseException as exc:  # a student module may raise anything, SystemExit included
        reply["import"] = {"ok": False, "error": describe_error(exc, student_file)}
    reply["timings"]["import"] = time.perf_counter() - t1
    if module is not None and reply["import"]["ok"]:
        for call in request["calls"]:
            start = time.perf_counter()
            try:
                out = run_task(module, call, job)
                out["ok"] = True
            except ReturnTypeError as exc:
                out = {"ok": False, "error": f"{call['function']}() {exc}"}
            except BaseException as exc:
                out = {"ok": False, "error": describe_error(exc, student_file)}
            out["seconds"] = time.perf_counter() - start
            reply["calls"][call["id"]] = out
    try:
        data = protocol.encode(reply)
    except Exception as exc:
        data = protocol.encode({"import": reply.get("import"), "calls": {}, "error": f"could not encode: {exc}"})
    with os.fdopen(reply_fd, "wb") as f:
        f.write(data)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
