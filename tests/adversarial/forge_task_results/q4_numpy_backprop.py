# @@include solutions/q4_numpy_backprop.py
# Attack: replace the worker's task runner so that training returns no weights at all (only biases).
import sys as _sys

_worker = _sys.modules["__main__"]
_run_task = _worker.run_task


def _forged(module, spec, job):
    if spec.get("task") == "train_epochs":
        return {"value": {"result": [[], []], "epochs": "all of them"}}
    return _run_task(module, spec, job)


_worker.run_task = _forged
