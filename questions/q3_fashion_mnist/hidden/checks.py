"""The model starts from fresh random weights."""

import numpy as np
import pytest

from grader.checking.checklib import as_float64
from grader.running.runner import Call

CALLS = [
    Call("build", "build_model", task="keras_build"),
    Call("build_seed1", "build_model", task="keras_build", extra={"seed": 1}),
]


@pytest.mark.check(points=1, hidden=True)
def test_model_starts_from_random_weights(student):
    """build_model returns an untrained model whose initial weights follow the random seed"""
    kernels = []
    for call in ("build", "build_seed1"):
        layers = [layer for layer in student.value(call).get("layers", []) if layer.get("class") == "Dense" and layer.get("weights")]
        assert layers, "build_model's model has no Dense layer with weights"
        kernels.append(as_float64(layers[0]["weights"][0], "first Dense kernel"))
    assert kernels[0].shape == kernels[1].shape and not np.array_equal(kernels[0], kernels[1]), (
        "build_model returned the same initial weights under two different random seeds: it should build a fresh, "
        "untrained model (no weights loaded from a file or fixed by a seed inside build_model)")
