"""The sandboxed worker: imports one student module and runs the calls the trusted grader asked for.

Runs inside bubblewrap as ``python -E -s -B /kit/worker.py /job /submission/<stem>.py``, with this file and
``protocol.py`` mounted at /kit. It reads ``/job/request.json`` (arrays in ``/job/arrays/*.npy``) and writes one
:mod:`protocol` message to file descriptor 3. Everything here runs next to untrusted code, so nothing it returns
is trusted: the grader re-checks every value itself. Its only jobs are to call the student's functions, turn what
comes back into plain data, and report errors in words a student understands.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np

import protocol

MAX_ITEMS = 1_000_000


class ReturnTypeError(TypeError):
    """A student function returned something that is not plain data."""


def plain(x, depth: int = 0, budget: list | None = None):
    """Turn a returned value into dict/list/str/int/float/bool/None/ndarray, without trusting its type."""
    budget = budget if budget is not None else [MAX_ITEMS]
    budget[0] -= 1
    if budget[0] < 0 or depth > 20:
        raise ReturnTypeError("the returned value is too large or too deeply nested")
    if isinstance(x, np.ndarray):
        arr = np.array(x, copy=True, subok=False)
        if arr.dtype.kind not in "biuf":
            raise ReturnTypeError(f"returned an array of dtype {arr.dtype}; expected numbers")
        return arr
    if isinstance(x, np.generic):
        if x.dtype.kind not in "biuf":
            raise ReturnTypeError(f"returned a numpy {x.dtype} scalar; expected a number")
        return np.array(x, copy=True)
    if isinstance(x, int) and not isinstance(x, bool) and abs(int(x)) >= 1 << 64:
        raise ReturnTypeError(f"returned an integer of {int(x).bit_length()} bits; expected numbers that fit in "
                              f"64 bits")
    if x is None or type(x) in (bool, int, float, str):
        return x
    if isinstance(x, bool):
        return bool(x)
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return float(x)
    if isinstance(x, (list, tuple)):
        return [plain(v, depth + 1, budget) for v in x]
    if isinstance(x, dict):
        return {str(k): plain(v, depth + 1, budget) for k, v in x.items()}
    if hasattr(x, "__array__"):
        return plain(np.asarray(x), depth + 1, budget)
    raise ReturnTypeError(f"returned a {type(x).__name__}; expected numbers or arrays")


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


def sympy_tree(expr):
    """A SymPy expression as nested lists the grader rebuilds from a whitelist (never by parsing text)."""
    import sympy

    if isinstance(expr, sympy.Symbol):
        return ["Symbol", expr.name]
    if isinstance(expr, sympy.Integer):
        return ["Integer", str(int(expr))]
    if isinstance(expr, sympy.Rational):
        return ["Rational", str(expr.p), str(expr.q)]
    if isinstance(expr, sympy.Float):
        return ["Float", repr(float(expr))]
    if expr in (sympy.E, sympy.pi):
        return ["Const", str(expr)]
    return [type(expr).__name__, *[sympy_tree(a) for a in expr.args]]


def run_sympy(fn, n: int):
    import sympy

    z = list(sympy.symbols(f"z0:{n}", real=True))
    derivative = sympy.Derivative.__new__

    def refuse(*args, **kwargs):
        raise RuntimeError("symbolic_jacobian must write the Jacobian's formula itself; asking SymPy to "
                           "differentiate (diff, jacobian) is what the check compares against")
    sympy.Derivative.__new__ = refuse
    try:
        result = sympy.Matrix(fn(z))
    finally:
        sympy.Derivative.__new__ = derivative
    return {"shape": list(result.shape), "entries": [[sympy_tree(result[i, j]) for j in range(result.shape[1])]
                                                     for i in range(result.shape[0])]}


def keras_spec(model) -> dict:
    layers = []
    for layer in model.layers:
        cfg = layer.get_config()
        entry = {"class": type(layer).__name__}
        for key in ("units", "rate"):
            if key in cfg:
                entry[key] = cfg[key]
        if "activation" in cfg:
            act = cfg["activation"]
            entry["activation"] = act if isinstance(act, str) else getattr(act, "__name__", str(act))
        entry["weights"] = [np.asarray(w, dtype=np.float64) for w in layer.get_weights()]
        layers.append(entry)
    optimizer = getattr(model, "optimizer", None)
    loss = getattr(model, "loss", None)
    lr = None
    if optimizer is not None:
        try:
            lr = float(np.asarray(optimizer.learning_rate))
        except Exception:
            lr = None
    return {
        "layers": layers,
        "input_shape": [d for d in (model.input_shape or ())][1:] if hasattr(model, "input_shape") else None,
        "params": int(model.count_params()),
        "optimizer": type(optimizer).__name__ if optimizer is not None else None,
        "learning_rate": lr,
        "loss": loss if isinstance(loss, str) or loss is None else getattr(loss, "name", type(loss).__name__),
    }


def run_task(module, spec: dict, job: Path):
    task = spec.get("task", "call")
    fn = getattr(module, spec["function"], None)
    if fn is None or not callable(fn):
        raise AttributeError(f"your module has no function {spec['function']}()")
    args = [resolve(a, job) for a in spec.get("args", [])]
    kwargs = {k: resolve(v, job) for k, v in spec.get("kwargs", {}).items()}
    if task == "call":
        value = fn(*args, **kwargs)
        out = {"value": plain(value)}
        if spec.get("return_args"):
            out["args"] = [plain(args[i]) for i in spec["return_args"]]
        return out
    if task == "sympy":
        return {"value": run_sympy(fn, int(spec["n"]))}
    if task == "keras_build":
        import keras

        keras.utils.set_random_seed(int(spec.get("seed", 0)))
        return {"value": keras_spec(fn())}
    if task == "keras_train":
        import keras

        keras.utils.set_random_seed(int(spec.get("seed", 0)))
        model = fn()
        train = getattr(module, spec["train_function"], None)
        if train is None:
            raise AttributeError(f"your module has no function {spec['train_function']}()")
        history = train(model, *args, **kwargs)
        hist = {}
        if isinstance(history, dict):
            for k, v in history.items():
                try:
                    hist[str(k)] = [float(x) for x in v]
                except (TypeError, ValueError):
                    pass
        return {"value": {"spec": keras_spec(model), "history": hist}}
    if task == "q4_train":
        snapshots = []

        def on_epoch_end(epoch, weights, biases):
            snapshots.append({"epoch": plain(epoch), "weights": plain(list(weights)), "biases": plain(list(biases))})
        weights, biases = fn(*args, on_epoch_end=on_epoch_end, **kwargs)
        return {"value": {"weights": plain(list(weights)), "biases": plain(list(biases)), "epochs": snapshots}}
    raise ValueError(f"unknown task {task!r}")


def main() -> None:
    job, student_file = Path(sys.argv[1]), sys.argv[2]
    reply_fd = os.dup(3)
    os.close(3)
    request = json.loads((job / "request.json").read_text())
    t0 = time.perf_counter()
    for name in request.get("preload", []):
        __import__(name)
    reply = {"timings": {"preload": time.perf_counter() - t0}, "calls": {}}
    np.random.seed(0)
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
            np.random.seed(0)
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
