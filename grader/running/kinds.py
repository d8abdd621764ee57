"""The kinds of task a worker can run for a check: how to call the student's code, and what a well-formed reply is.

A check asks for a :class:`grader.running.runner.Call` with ``task=<kind name>``; nothing here knows any question.
Each kind has two halves, kept side by side so they cannot drift apart:

- ``run(module, fn, args, kwargs, spec)`` runs in the sandboxed worker next to student code and returns
  ``{"value": ...}`` as plain data (see :func:`plain`);
- ``problem(out, spec)`` runs on the trusted side and says what is wrong with the worker's ``out`` for one call
  ("" when it has the shape this kind writes). The worker runs beside code that can rewrite it, so its reply is
  checked like any untrusted input.

This file is mounted into the sandbox beside ``worker.py`` and imported there as ``kinds``: it needs only numpy at
import time (SymPy and Keras are imported by the kinds that use them, when they run).
"""

from __future__ import annotations

import os

import numpy as np

MAX_ITEMS = 1_000_000
# a message the worker sends while a call runs: PARTIAL_MAGIC, an 8-byte little-endian length, a protocol message
PARTIAL_MAGIC = b"NNKITP\n"
SEND = None  # set by the worker: sends one such message (a plain-data dict) to the trusted side


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and the children it has reaped."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class _BudgetReached(BaseException):
    """Raised from the epoch callback at the budget; a BaseException, so ``except Exception`` in student code does
    not swallow it."""


def stopped_problem(value: dict) -> str:
    """What is wrong with a training reply's ``stopped`` entry ("" when absent or well-formed)."""
    stopped = value.get("stopped")
    if stopped is None:
        return ""
    if not (isinstance(stopped, dict) and type(stopped.get("epochs")) is int and stopped["epochs"] >= 0
            and (stopped.get("of") is None or type(stopped["of"]) is int)):
        return "not a budget stop"
    return ""


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


class Kind:
    name = ""

    def run(self, module, fn, args: list, kwargs: dict, spec: dict) -> dict:
        raise NotImplementedError

    def problem(self, out: dict, spec: dict) -> str:
        return "" if "value" in out else "no value"


class CallKind(Kind):
    """``fn(*args, **kwargs)``; ``return_args`` lists the positions of arguments to send back after the call (to see
    what the function did to them in place)."""
    name = "call"

    def run(self, module, fn, args, kwargs, spec):
        out = {"value": plain(fn(*args, **kwargs))}
        if spec.get("return_args"):
            out["args"] = [plain(args[i]) for i in spec["return_args"]]
        return out

    def problem(self, out, spec):
        if "value" not in out:
            return "no value"
        returned = out.get("args")
        if spec.get("return_args") and not (isinstance(returned, list)
                                            and len(returned) == len(spec["return_args"])):
            return "no arguments after the call"
        return ""


_LEAVES = {"Symbol": 1, "Integer": 1, "Float": 1, "Const": 1, "Rational": 2}


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


def is_tree(tree) -> bool:
    """A SymPy expression as :func:`sympy_tree` writes it: [head, *args], literals as strings."""
    if not (isinstance(tree, list) and tree and isinstance(tree[0], str)):
        return False
    head, args = tree[0], tree[1:]
    if head not in _LEAVES:
        return all(is_tree(a) for a in args)
    if len(args) != _LEAVES[head] or not all(isinstance(a, str) and len(a) <= 400 for a in args):
        return False
    if head in ("Integer", "Rational"):
        digits = all(a.lstrip("-").isdigit() and a.isascii() for a in args)
        return digits and (head == "Integer" or args[1].strip("-0") != "")  # no zero denominator
    if head == "Float":
        try:
            float(args[0])
        except ValueError:
            return False
    return head != "Const" or args[0] in ("E", "pi")


# SymPy's differentiation: code that runs whenever anything is differentiated, however it was asked for
_DIFFERENTIATION = ("Derivative.__new__", "Expr.diff", "diff", "_derivative_dispatch", "MatrixCalculus.diff",
                    "MatrixCalculus.jacobian", "MatrixBase.diff", "MatrixBase.jacobian", "Function.fdiff")


def _differentiates(code) -> bool:
    name = code.co_qualname
    return ("sympy" in code.co_filename
            and (name in _DIFFERENTIATION or name.endswith("._eval_derivative") or name.endswith(".fdiff")))


class SympyMatrix(Kind):
    """``fn(z)`` for ``n`` real SymPy symbols ``z0 .. z{n-1}``, returning a matrix of expressions. With
    ``forbid_derivatives`` the function must write its formula itself: SymPy's ``Derivative`` is patched to raise, and
    a profile hook (this thread and threads started later) raises when any of SymPy's differentiation code is entered,
    so restoring the patched method does not help; a call that leaves the patch or the hook changed is refused.
    Student code in the same process can still remove both on purpose: this raises the bar, it is no proof."""
    name = "sympy"

    def run(self, module, fn, args, kwargs, spec):
        import sys
        import threading

        import sympy

        z = list(sympy.symbols(f"z0:{int(spec['n'])}", real=True))
        if not spec.get("forbid_derivatives"):
            return self._reply(sympy.Matrix(fn(z)))
        message = (f"{spec['function']} must write its formula itself; asking SymPy to differentiate (diff, "
                   f"jacobian, Derivative) is what the check compares against")
        derivative = sympy.Derivative.__dict__["__new__"]

        def refuse(*a, **k):
            raise RuntimeError(message)

        def hook(frame, event, arg):
            if event == "call" and _differentiates(frame.f_code):
                raise RuntimeError(message)
        sympy.Derivative.__new__ = refuse
        sys.setprofile(hook)
        threading.setprofile(hook)
        try:
            result = sympy.Matrix(fn(z))
            intact = sys.getprofile() is hook and sympy.Derivative.__dict__.get("__new__") is refuse
        finally:
            sys.setprofile(None)
            threading.setprofile(None)
            sympy.Derivative.__new__ = derivative
        if not intact:
            raise RuntimeError(f"{spec['function']} changed the grader's guard against SymPy's differentiation "
                               f"(the patched Derivative or the profile hook): {message}")
        return self._reply(result)

    @staticmethod
    def _reply(result) -> dict:
        rows, cols = result.shape
        return {"value": {"shape": [rows, cols],
                          "entries": [[sympy_tree(result[i, j]) for j in range(cols)] for i in range(rows)]}}

    def problem(self, out, spec):
        value = out.get("value")
        shape, entries = (value.get("shape"), value.get("entries")) if isinstance(value, dict) else (None, None)
        if not (isinstance(shape, list) and len(shape) == 2 and all(type(n) is int and n >= 0 for n in shape)
                and isinstance(entries, list) and len(entries) == shape[0]
                and all(isinstance(row, list) and len(row) == shape[1] for row in entries)):
            return "not a matrix"
        return "" if all(is_tree(e) for row in entries for e in row) else "not an expression"


def keras_spec(model) -> dict:
    """A Keras model as plain data: its layers (class, units, rate, activation, weights) and how it was compiled."""
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


def spec_problem(spec) -> str:
    if not (isinstance(spec, dict) and isinstance(spec.get("layers"), list) and type(spec.get("params")) is int
            and all(isinstance(layer, dict) and isinstance(layer.get("class"), str)
                    and isinstance(layer.get("weights"), list) for layer in spec["layers"])):
        return "not a model description"
    lr = spec.get("learning_rate")
    return "" if lr is None or (isinstance(lr, (int, float)) and not isinstance(lr, bool)) else "not a learning rate"


class KerasBuild(Kind):
    """``fn()`` builds a Keras model (Keras seeded with ``seed``, default 0); the reply describes it."""
    name = "keras_build"

    def run(self, module, fn, args, kwargs, spec):
        import keras

        keras.utils.set_random_seed(int(spec.get("seed", 0)))
        return {"value": keras_spec(fn())}

    def problem(self, out, spec):
        return spec_problem(out.get("value"))


class KerasTrain(Kind):
    """``fn()`` builds a model, then the module's ``train_function`` trains it on ``args``; the reply is the trained
    model's description and the returned history (a dict of lists of numbers). With ``cpu_budget`` (seconds), every
    ``model.fit`` the training calls gains a callback that stops it once the call has used that much CPU time; the
    reply then carries ``"stopped": {"epochs": epochs run, "of": epochs asked for, "budget": seconds}`` and the
    weights reached."""
    name = "keras_train"

    def run(self, module, fn, args, kwargs, spec):
        import keras

        keras.utils.set_random_seed(int(spec.get("seed", 0)))
        model = fn()
        train = getattr(module, spec["train_function"], None)
        if train is None or not callable(train):
            raise AttributeError(f"your module has no function {spec['train_function']}()")
        budget = spec.get("cpu_budget")
        stop = _keras_budget_stop(keras, model, float(budget)) if budget is not None else None
        history = train(model, *args, **kwargs)
        hist = {}
        if isinstance(history, dict):
            for k, v in history.items():
                try:
                    hist[str(k)] = [float(x) for x in v]
                except (TypeError, ValueError):
                    pass
        value = {"spec": keras_spec(model), "history": hist}
        if stop is not None and stop["stopped"]:
            value["stopped"] = {"epochs": stop["epochs"], "of": stop["of"], "budget": float(budget)}
        return {"value": value}

    def problem(self, out, spec):
        value = out.get("value")
        if not isinstance(value, dict) or not isinstance(value.get("history"), dict) or not all(
                isinstance(v, list) and all(isinstance(x, (int, float)) for x in v) for v in value["history"].values()):
            return "no training history"
        return spec_problem(value.get("spec")) or stopped_problem(value)


def _keras_budget_stop(keras, model, budget: float) -> dict:
    """Wrap ``model.fit`` so that each fit gets a callback stopping it once ``budget`` CPU seconds have been used
    from now; returns the state it keeps: {"stopped", "epochs" (ended, the one cut short included), "of"}."""
    state = {"stopped": False, "epochs": 0, "of": 0}
    start = cpu_seconds()

    class BudgetStop(keras.callbacks.Callback):
        def _check(self):
            if cpu_seconds() - start > budget:
                state["stopped"] = True
                self.model.stop_training = True

        def on_train_begin(self, logs=None):
            self._check()

        def on_train_batch_end(self, batch, logs=None):
            self._check()

        def on_epoch_end(self, epoch, logs=None):
            state["epochs"] += 1

    fit = model.fit

    def fit_within_budget(*args, **kwargs):
        args = list(args)
        if len(args) > 5:  # fit(x, y, batch_size, epochs, verbose, callbacks, ...)
            args[5] = [*(args[5] or []), BudgetStop()]
        else:
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), BudgetStop()]
        epochs = args[3] if len(args) > 3 else kwargs.get("epochs", 1)
        if isinstance(epochs, int) and not isinstance(epochs, bool):
            state["of"] += max(0, epochs - int(kwargs.get("initial_epoch", 0)))
        return fit(*args, **kwargs)
    model.fit = fit_within_budget
    return state


class TrainEpochs(Kind):
    """``fn(*args, <callback>=record, **kwargs)``, where the student's training calls ``record(epoch, *state)`` after
    each epoch (``callback`` names the keyword, default ``on_epoch_end``). The reply is ``{"result": what fn
    returned, "epochs": [the arguments of each record call]}``, so the grader can evaluate every epoch itself.

    With ``cpu_budget`` (seconds), each record call is also sent to the trusted side as it happens (:data:`SEND`),
    and the first one after the call has used that much CPU time stops the training: the reply's ``result`` is then
    the last record call's ``state`` and ``"stopped": {"epochs": k, "of": the epochs asked for, "budget": seconds}``
    is added. :meth:`from_partials` makes the same reply from the sent records when the worker was killed."""
    name = "train_epochs"

    def run(self, module, fn, args, kwargs, spec):
        import time

        snapshots = []
        start = time.monotonic()
        budget = spec.get("cpu_budget")
        planned = kwargs.get(spec.get("epochs_keyword", "epochs"))
        planned = planned if type(planned) is int else None
        cpu_start = cpu_seconds()

        def record(*values):
            snapshots.append(plain(list(values)))
            print(f"epoch {len(snapshots)} done, {time.monotonic() - start:.0f} s", flush=True)  # nnkit check shows it
            if budget is not None:
                if SEND is not None:
                    SEND({"call": spec["id"], "epoch": snapshots[-1], "of": planned})
                if cpu_seconds() - cpu_start > float(budget):
                    raise _BudgetReached
        try:
            result = fn(*args, **{spec.get("callback", "on_epoch_end"): record}, **kwargs)
        except _BudgetReached:
            return {"value": self._stopped(snapshots, planned, budget)}
        return {"value": {"result": plain(result), "epochs": snapshots}}

    @staticmethod
    def _stopped(snapshots: list, planned, budget, killed: str = "") -> dict:
        stopped = {"epochs": len(snapshots), "of": planned, "budget": float(budget)}
        if killed:
            stopped["killed"] = killed
        return {"result": snapshots[-1][1:] if snapshots else None, "epochs": snapshots, "stopped": stopped}

    def from_partials(self, messages: list, spec: dict, killed: str) -> dict | None:
        """The reply for one call rebuilt from the records the worker sent before it died, or None if it sent
        none; ``killed`` says why it died."""
        mine = [m for m in messages if isinstance(m, dict) and m.get("call") == spec["id"]
                and isinstance(m.get("epoch"), list)]
        if not mine or spec.get("cpu_budget") is None:
            return None
        planned = mine[-1].get("of") if type(mine[-1].get("of")) is int else None
        value = self._stopped([m["epoch"] for m in mine], planned, spec["cpu_budget"], killed or "killed")
        return {"ok": True, "value": value}

    def problem(self, out, spec):
        value = out.get("value")
        if not (isinstance(value, dict) and "result" in value and isinstance(value.get("epochs"), list)
                and all(isinstance(e, list) for e in value["epochs"])):
            return "not a training result"
        return stopped_problem(value)


class CostRatio(Kind):
    """How long ``fn(*args[0])`` takes against the module's ``baseline`` function on ``args[1]``: the least time of
    several interleaved runs of each (the least is what preemption by other jobs cannot inflate). ``fn`` runs at
    most ``repeats`` times and stops early once it has used ``budget`` seconds. The reply is ``{"ratio": fn's time /
    baseline's, "seconds": fn's least time, "baseline_seconds": the baseline's}``."""
    name = "cost_ratio"

    def run(self, module, fn, args, kwargs, spec):
        import time

        baseline = getattr(module, spec["baseline"], None)
        if baseline is None or not callable(baseline):
            raise AttributeError(f"your module has no function {spec['baseline']}()")
        inner = int(spec.get("baseline_inner", 20))
        best, best_base, used = float("inf"), float("inf"), 0.0
        for _ in range(int(spec.get("repeats", 7))):
            t0 = time.perf_counter()
            for _ in range(inner):
                baseline(*args[1])
            best_base = min(best_base, (time.perf_counter() - t0) / inner)
            t0 = time.perf_counter()
            fn(*args[0])
            took = time.perf_counter() - t0
            best, used = min(best, took), used + took
            if used > float(spec.get("budget", 2.0)):
                break
        return {"value": {"ratio": best / max(best_base, 1e-9), "seconds": best, "baseline_seconds": best_base}}

    def problem(self, out, spec):
        value = out.get("value")
        if not (isinstance(value, dict) and all(type(value.get(k)) is float and value[k] >= 0
                                                for k in ("ratio", "seconds", "baseline_seconds"))):
            return "not a cost measurement"
        return ""


KINDS = {kind.name: kind for kind in (CallKind(), SympyMatrix(), KerasBuild(), KerasTrain(), TrainEpochs(),
                                      CostRatio())}
