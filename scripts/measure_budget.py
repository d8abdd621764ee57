"""Measure the CPU time of the training calls as the grader runs them, to choose and check the training budgets.

Each recipe's module is graded's training worker alone (the question's own training call, through
grader.running.runner with a budget far above it, so nothing stops), and the worker's whole process tree is
measured by the sandbox: CPU seconds (user + system, TensorFlow's import and the data included) and wall seconds.

    python scripts/measure_budget.py                      # every recipe, one training slot of every core
    python scripts/measure_budget.py --threads 1 q4-handout

Recipes: q3-reference (solutions/), q3-handout (batch 32, EarlyStopping on val_loss with patience 5, up to 50
epochs, validation_split 0.1), q4-reference (solutions/, 3 epochs), q4-handout (the reference with the handout's own
per-sample train_one from bench/handout_q4.py: dsigmoid recomputed, np.outer for every layer).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import os
import tempfile
from pathlib import Path

from grader import registry
from grader.running import runner, sandbox, slots

ROOT = Path(__file__).resolve().parents[1]

Q3_HANDOUT = '''

def train_model(model, x_train, y_train):
    import keras

    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)
    return model.fit(x_train, y_train, batch_size=32, epochs=50, validation_split=0.1, callbacks=[stop],
                     verbose=2).history
'''



def _handout_train_one() -> str:
    """bench/handout_q4.py's train_one, as the module's train_one_sample (it uses the module's handout helpers)."""
    spec = importlib.util.spec_from_file_location("handout_q4", ROOT / "bench" / "handout_q4.py")
    handout = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handout)
    return "\n\n" + inspect.getsource(handout.train_one) + "\n\ntrain_one_sample = train_one\n"


RECIPES = {"q3-reference": ("q3_fashion_mnist", ""), "q3-handout": ("q3_fashion_mnist", Q3_HANDOUT),
           "q4-reference": ("q4_numpy_backprop", ""), "q4-handout": ("q4_numpy_backprop", None)}


def measure(recipe: str, threads: int) -> dict:
    stem, extra = RECIPES[recipe]
    extra = _handout_train_one() if extra is None else extra
    question = registry.by_stem(stem)
    checks = importlib.import_module(f"{question.package}.checks")
    calls = [c for c in checks.CALLS if c.group == "train"]
    with tempfile.TemporaryDirectory(prefix="nnkit-measure-") as tmp:
        sub = Path(tmp) / "sub"
        sub.mkdir()
        (sub / f"{stem}.py").write_text((ROOT / "solutions" / f"{stem}.py").read_text() + extra)
        for path in (Path(tmp), sub, sub / f"{stem}.py"):
            path.chmod(0o755)
        slots.create(Path(tmp) / "slots", [slots.available_cpus()[:threads]])
        os.environ[slots.ENV] = str(Path(tmp) / "slots")
        try:
            run = runner.run_calls(sub, stem, "train", calls, sandbox.Limits(timeout=300, memory_mb=6144),
                                   preload=question.preload, forbid=(question.forbid_imports, question.heading),
                                   cpu_budget=100_000.0)
        finally:
            os.environ.pop(slots.ENV, None)
    out = run.calls.get(calls[0].id, {})
    value = out.get("value") if isinstance(out, dict) else None
    epochs = (len(value.get("epochs", [])) if stem == "q4_numpy_backprop"
              else len(next(iter(value.get("history", {}).values()), []))) if isinstance(value, dict) else None
    return {"recipe": recipe, "threads": threads, "ok": bool(out.get("ok")), "error": out.get("error", run.reason),
            "cpu_seconds": round(run.cpu, 1), "wall_seconds": round(run.wall, 1),
            "call_wall_seconds": round(float(out.get("seconds", 0.0)), 1), "epochs": epochs,
            "load": round(os.getloadavg()[0], 2)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--threads", type=int, default=len(slots.available_cpus()),
                        help="the training slot's cores and threads (default: every core)")
    opts = parser.parse_args(argv)
    for recipe in opts.recipes:
        print(json.dumps(measure(recipe, opts.threads)), flush=True)


if __name__ == "__main__":
    main()
