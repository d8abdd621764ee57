"""Trusted side of Q3: read the returned layer spec, rebuild the network in numpy and evaluate it."""

from __future__ import annotations

import numpy as np

from grader.checking.checklib import ACTIVATIONS, as_float64, dense_outputs
from grader.running.runner import StudentFailure

STEM = __name__.split(".")[1]  # the folder's name: the module students write

EXPECTED = [
    ("Flatten", None, None), ("Dense", 256, "relu"), ("Dropout", 0.2, None), ("Dense", 128, "relu"),
    ("Dropout", 0.2, None), ("Dense", 64, "relu"), ("Dropout", 0.2, None), ("Dense", 10, "softmax"),
]
PARAMS = 784 * 256 + 256 + 256 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10  # 242,762


def describe_layer(layer: dict) -> str:
    cls = layer.get("class")
    if cls == "Dense":
        return f"Dense({layer.get('units')}, activation={layer.get('activation')!r})"
    if cls == "Dropout":
        return f"Dropout({layer.get('rate')})"
    return f"{cls}()"


def check_architecture(spec: dict) -> None:
    __tracebackhide__ = True
    layers = spec.get("layers") or []
    got = [describe_layer(layer) for layer in layers]
    want = [describe_layer({"class": c, "units": u, "rate": u, "activation": a}) for c, u, a in EXPECTED]
    for i, (g, w) in enumerate(zip(got, want)):
        layer = layers[i]
        cls, size, act = EXPECTED[i]
        ok = layer.get("class") == cls
        if ok and cls == "Dense":
            ok = layer.get("units") == size and layer.get("activation") == act
        if ok and cls == "Dropout":
            ok = isinstance(layer.get("rate"), (int, float)) and abs(layer["rate"] - size) < 1e-9
        if not ok:
            raise StudentFailure(f"layer {i} should be {w}, but your model has {g}.\nExpected layers: "
                                 f"{', '.join(want)}\nYour layers:     {', '.join(got)}")
    if len(got) != len(want):
        raise StudentFailure(f"expected {len(want)} layers, your model has {len(got)}.\nExpected: {', '.join(want)}"
                             f"\nYours:    {', '.join(got)}")


def numpy_forward(spec: dict, x: np.ndarray, batch: int = 2000) -> np.ndarray:
    """Class probabilities from the returned weights, in float64, with Dropout as the identity (inference)."""
    __tracebackhide__ = True
    plan = []
    for i, layer in enumerate(spec.get("layers") or []):
        cls = layer.get("class")
        if cls in ("Flatten", "Dropout", "InputLayer"):
            continue
        if cls != "Dense":
            raise StudentFailure(f"layer {i} is a {cls}; the grader can only evaluate Flatten, Dense and Dropout")
        w = layer.get("weights") or []
        if len(w) != 2:
            raise StudentFailure(f"layer {i} (Dense) should have a kernel and a bias, it returned {len(w)} arrays")
        kernel = as_float64(w[0], f"layer {i} kernel")
        bias = as_float64(w[1], f"layer {i} bias")
        act = layer.get("activation")
        if not isinstance(act, str) or act not in ACTIVATIONS:
            raise StudentFailure(f"layer {i} uses activation {act!r}, which the grader cannot evaluate")
        plan.append((kernel, bias, act))
    return dense_outputs(plan, x.reshape(-1, 784), divisor=255.0, batch=batch)
