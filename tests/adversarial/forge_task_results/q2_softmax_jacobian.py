# @@include solutions/q2_softmax_jacobian.py
# Attack: replace the worker's task runner so that the symbolic task returns malformed expressions (a symbol without a
# name, an integer that is not a number), data the grader's checks would trip over.
import sys as _sys

_worker = _sys.modules["__main__"]
_run_task = _worker.run_task


def _forged(module, spec, job):
    if spec.get("task") == "sympy":
        n = spec["n"]
        return {"value": {"shape": [n, n], "entries": [[["Symbol"], ["Integer", "x"]] + [["Add"]] * (n - 2)] * n}}
    return _run_task(module, spec, job)


_worker.run_task = _forged
