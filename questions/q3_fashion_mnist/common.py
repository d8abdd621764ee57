"""Trusted side of Q3: read the returned layer spec, name what differs from the specified model, rebuild the network
in numpy and evaluate it, and recognise known mistakes in a failed or weak training run."""

from __future__ import annotations

import difflib

import numpy as np

from grader.checking.checklib import ACTIVATIONS, as_float64, dense_outputs
from grader.checking.messages import describe_value
from grader.running.runner import StudentFailure

STEM = __name__.split(".")[1]  # the folder's name: the module students write

EXPECTED = [
    ("Flatten", None, None), ("Dense", 256, "relu"), ("Dropout", 0.2, None), ("Dense", 128, "relu"),
    ("Dropout", 0.2, None), ("Dense", 64, "relu"), ("Dropout", 0.2, None), ("Dense", 10, "softmax"),
]
PARAMS = 784 * 256 + 256 + 256 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10  # 242,762
LEARNING_RATE = 1e-3
INPUT_LAYERS = ("InputLayer",)
ACTIVATION_LAYERS = {"Activation": None, "Softmax": "softmax", "ReLU": "relu"}


def normalised_layers(layers: list) -> list[dict]:
    """The model's layers as the specification counts them: input layers left out (the functional API lists one),
    and an activation layer (``Activation``, ``Softmax``, ``ReLU``) after a Dense layer without activation folded into
    it, so ``Dense(10)`` then ``Activation("softmax")`` reads as ``Dense(10, activation="softmax")``."""
    out: list[dict] = []
    for layer in layers:
        if not isinstance(layer, dict):
            continue
        cls = layer.get("class")
        if cls in INPUT_LAYERS:
            continue
        if cls in ACTIVATION_LAYERS:
            act = ACTIVATION_LAYERS[cls] or layer.get("activation")
            if out and out[-1].get("class") == "Dense" and out[-1].get("activation") == "linear" and isinstance(act, str):
                out[-1] = {**out[-1], "activation": act}
                continue
        out.append(layer)
    return out


def describe_layer(layer: dict) -> str:
    cls = layer.get("class")
    if cls == "Dense":
        return f"Dense({layer.get('units')}, activation={layer.get('activation')!r})"
    if cls == "Dropout":
        return f"Dropout({layer.get('rate')})"
    return f"{cls}()"


def _expected_layer(i: int) -> dict:
    cls, size, act = EXPECTED[i]
    return {"class": cls, "units": size, "rate": size, "activation": act}


def layer_differences(i: int, layer: dict, loss) -> list[str]:
    """What differs between the model's layer ``i`` and the specification's, one phrase each (same class)."""
    cls, size, act = EXPECTED[i]
    found = []
    if cls == "Dense":
        if layer.get("units") != size:
            found.append(f"{layer.get('units')} units instead of {size}")
        if layer.get("activation") != act:
            found.append(activation_difference(layer.get("activation"), act, last=i == len(EXPECTED) - 1, loss=loss))
    if cls == "Dropout":
        rate = layer.get("rate")
        if not (isinstance(rate, (int, float)) and abs(rate - size) < 1e-9):
            found.append(f"rate {rate} instead of {size}" + (
                ": the rate is the fraction of units dropped, not kept" if isinstance(rate, (int, float))
                and abs(rate - (1 - size)) < 1e-9 else ""))
    return found


def activation_difference(got, want: str, last: bool, loss) -> str:
    if last and got in ("linear", None):
        logits_loss = not isinstance(loss, str)
        return (f"activation {got!r} instead of {want!r}: the output layer gives logits, while the loss "
                + ("may expect them (from_logits=True), but the specification asks for softmax probabilities with "
                   "the loss's default from_logits=False" if logits_loss else
                   f"{loss!r} expects probabilities (from_logits=False, the default for a loss given by name)"))
    return f"activation {got!r} instead of {want!r}"


def check_architecture(spec: dict) -> None:
    """Fail unless the model's layers are the specification's, naming every layer that differs and how."""
    __tracebackhide__ = True
    layers = normalised_layers(spec.get("layers") or [])
    got = [describe_layer(layer) for layer in layers]
    want = [describe_layer(_expected_layer(i)) for i in range(len(EXPECTED))]
    listing = f"\nExpected layers: {', '.join(want)}\nYour layers:     {', '.join(got)}"
    classes = [layer.get("class") for layer in layers]
    if classes != [cls for cls, _, _ in EXPECTED]:
        i = next((k for k, (g, (w, _, _)) in enumerate(zip(classes, EXPECTED)) if g != w), min(len(got), len(want)))
        if i < min(len(got), len(want)):
            head = f"layer {i} should be {want[i]}, but your model has {got[i]}"
        else:
            head = f"expected {len(want)} layers, your model has {len(got)}"
        raise StudentFailure(head + "." + listing + "\nHint: " + structure_hint(classes))
    found = [(i, layer_differences(i, layer, spec.get("loss"))) for i, layer in enumerate(layers)]
    found = [(i, phrases) for i, phrases in found if phrases]
    if found:
        lines = "\n".join(f"- layer {i}: {got[i]} has {'; '.join(phrases)}" for i, phrases in found)
        raise StudentFailure(f"{len(found)} layer{'s differ' if len(found) > 1 else ' differs'} from the "
                             f"specification:\n{lines}{listing}\nHint: {architecture_hint(found)}")


def structure_hint(classes: list) -> str:
    """Which layers are missing or extra, from the layer classes alone."""
    want = [cls for cls, _, _ in EXPECTED]
    notes = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=want, b=classes, autojunk=False).get_opcodes():
        if op == "delete":
            notes.append(f"missing {', '.join(want[i1:i2])} (specification's layer {i1})")
        elif op == "insert":
            notes.append(f"extra {', '.join(map(str, classes[j1:j2]))} (your layer {j1})")
        elif op == "replace":
            notes.append(f"{', '.join(map(str, classes[j1:j2]))} where the specification has {', '.join(want[i1:i2])}"
                         f" (layer {i1})")
    if "Flatten" not in classes:
        notes.append("without Flatten, Dense layers act on the last axis of the (28, 28) images")
    return "; ".join(notes) or "compare your layers with the specification's, one by one"


def architecture_hint(found: list) -> str:
    phrases = [p for _, ps in found for p in ps]
    if any("logits" in p for p in phrases):
        return "the last Dense layer needs activation='softmax'; keep the loss's from_logits=False (the default)"
    if any("not kept" in p for p in phrases):
        return "keras.layers.Dropout(0.2) drops 20% of the units during training"
    return "set units, activation and rate exactly as the specification lists them"


def parameter_hint(spec: dict) -> str:
    """Which Dense layers have another parameter count than the specification's (inputs x units + units)."""
    dense = [layer for layer in normalised_layers(spec.get("layers") or []) if layer.get("class") == "Dense"]
    want = [(784 if k == 0 else EXPECTED[2 * k - 1][1], units) for k, (_, units, _) in
            enumerate(e for e in EXPECTED if e[0] == "Dense")]
    notes = []
    for k, (layer, (n_in, units)) in enumerate(zip(dense, want)):
        weights = layer.get("weights") or []
        count = int(sum(np.size(w) for w in weights))
        if count != n_in * units + units:
            notes.append(f"Dense layer {k + 1} has {count:,}, expected {n_in} x {units} + {units} = "
                         f"{n_in * units + units:,}")
    if len(dense) != len(want):
        notes.append(f"your model has {len(dense)} Dense layers, the specification {len(want)}")
    return "; ".join(notes) + ". " if notes else ""


def compile_problems(spec: dict) -> list[str]:
    """What differs from the specified compile settings (Adam, learning rate 1e-3, a multi-class cross-entropy)."""
    problems = []
    if spec.get("optimizer") != "Adam":
        problems.append(f"expected the Adam optimizer, your model uses {spec.get('optimizer')}")
    lr = spec.get("learning_rate")
    if lr is None:
        if spec.get("optimizer") == "Adam":
            problems.append("expected learning rate 0.001, and the optimizer's learning rate could not be read as a "
                            "number (a schedule?): give keras.optimizers.Adam(learning_rate=1e-3)")
    elif abs(lr - LEARNING_RATE) > 1e-9:
        problems.append(f"expected learning rate 0.001, got {lr:g}: give keras.optimizers.Adam(learning_rate=1e-3) "
                        f"(Adam's default is also 0.001)")
    loss = str(spec.get("loss"))
    plain = loss.replace("_", "").lower()
    if "crossentropy" not in plain:
        problems.append(f"expected a cross-entropy loss (sparse_categorical_crossentropy for integer labels), got "
                        f"{loss!r}")
    elif "binary" in plain:
        problems.append(f"expected sparse_categorical_crossentropy, got {loss!r}: binary cross-entropy is for "
                        f"yes/no outputs, not one of ten classes")
    return problems


# Errors a known mistake raises inside build_model or train_model, and what to say about them.
CRASHES = (
    ("Argument `output` must have rank (ndim) `target.ndim - 1`",
     "the labels reached the loss as one-hot vectors, but sparse_categorical_crossentropy takes integer class "
     "indices: pass y_train as given (integers 0..9), without to_categorical"),
    ("Arguments `target` and `output` must have the same rank",
     "categorical_crossentropy expects one-hot labels, and y_train holds integers 0..9: compile with "
     "sparse_categorical_crossentropy"),
    ("Argument(s) not recognized: {'lr'",
     "Keras 3 names the optimizer's argument learning_rate: keras.optimizers.Adam(learning_rate=1e-3)"),
    ("expected axis -1 of input shape to have value",
     "the first layers must take images of shape (28, 28): keras.Input(shape=(28, 28)), then Flatten"),
    ("is incompatible with the layer",
     "the model must take the images as given, shape (n, 28, 28): keras.Input(shape=(28, 28)), then Flatten"),
)


def crash_hint(message: str) -> str:
    """The hint for a known mistake whose error ``message`` shows, else ""."""
    return next((hint for words, hint in CRASHES if words in message), "")


def with_crash_hint(fetch):
    """``fetch()`` (a student value); a StudentFailure from it gains the hint of the known mistake it shows."""
    __tracebackhide__ = True
    try:
        return fetch()
    except StudentFailure as exc:
        hint = crash_hint(str(exc))
        if hint and "\nHint: " not in str(exc):
            raise StudentFailure(f"{exc}\nHint: {hint}") from None
        raise


def training_hint(history: dict, spec: dict) -> str:
    """The hint for a trained model below the bar, from its history and layers: a loss that diverged, a missing
    softmax, too few epochs; else the general advice. (A second softmax, from_logits=True after a softmax layer,
    needs no hint: Keras's TensorFlow backend then takes the softmax's input as the logits, and warns.)"""
    losses = [v for v in history.get("loss", []) if isinstance(v, (int, float))]
    layers = normalised_layers(spec.get("layers") or [])
    last = layers[-1] if layers else {}
    if losses and not np.all(np.isfinite(losses)):
        return "the training loss became NaN or infinite: check the learning rate (1e-3) and the loss"
    if last.get("class") == "Dense" and last.get("activation") in ("linear", None):
        return "the last layer has no softmax: give it activation='softmax' (the loss expects probabilities)"
    if losses and len(losses) < 5:
        return (f"train_model trained for {len(losses)} epoch{'s' if len(losses) > 1 else ''}: train for more "
                f"epochs (the reference trains 40 at batch size 512, in under a minute)")
    return ("train for more epochs or with a larger batch; check that the labels are integers matching "
            "sparse_categorical_crossentropy and that you did not scale the images a second time")


def numpy_forward(spec: dict, x: np.ndarray, batch: int = 2000, divisor: float = 255.0) -> np.ndarray:
    """Class probabilities from the returned weights, in float64, with Dropout as the identity (inference), for
    images ``x`` (n, 28, 28) or rows (n, 784) divided by ``divisor``."""
    __tracebackhide__ = True
    plan = []
    for i, layer in enumerate(normalised_layers(spec.get("layers") or [])):
        cls = layer.get("class")
        if cls in ("Flatten", "Dropout"):
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
            raise StudentFailure(f"layer {i} uses activation {describe_value(act)}, which the grader cannot evaluate")
        plan.append((kernel, bias, act))
    return dense_outputs(plan, x.reshape(-1, 784), divisor=divisor, batch=batch)
