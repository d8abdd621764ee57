"""Trusted side of Q4: reading returned parameters, the checks' fixed inputs, and the catalogue of known mistakes.

The reference network (forward, backward, loss) is solution code and lives in the instructor-only
:mod:`questions.q4_numpy_backprop.hidden.reference`; what its known mistakes give comes from there too (in the student
bundle, from the stored expected values). Here each wrong answer is compared with those, and the hint names the
mistake it equals, or says what differs.
"""

from __future__ import annotations

import numpy as np

from grader.checking.checklib import dense_outputs
from grader.checking.messages import describe_value
from grader.running.runner import StudentFailure

STEM = __name__.split(".")[1]  # the folder's name: the module students write
SIZES = (784, 32, 32, 10)
NAMES = ("W1", "W2", "W3", "b1", "b2", "b3")
ACTIVATIONS = ("sigmoid", "sigmoid", "softmax")
# backward may cost at most this many forward passes of the same image (the cost_ratio task kind measures it). Measured
# on the 784-32-32-10 network: the reference 2.4-3.5; backpropagation with the outer products as Python loops 215-236;
# complex-step differences vectorised over W1 (all its nudges in one batched pass) 4,500-10,000; central differences
# one entry at a time 7,000-115,000.
MAX_BACKWARD_COST = 1000
LEARNING_RATE = 0.003  # the handout's, the default of train_one_sample and train

# The hint for a gradient equal to what each mistake of hidden/reference.MISTAKES gives.
GRADIENT_MISTAKES = {
    "no_sigmoid_derivative": (
        "it matches backpropagation without the sigmoid derivative: multiply by a * (1 - a) (the sigmoid's derivative "
        "at the pre-activation z, where a = sigmoid(z)) when passing back through each hidden layer"),
    "derivative_of_activation": (
        "it matches the sigmoid derivative taken at the activation instead of the pre-activation: dsigmoid(a) with "
        "a = sigmoid(z) computes s(s(z)) * (1 - s(s(z))); use dsigmoid(z), or a * (1 - a) with a = sigmoid(z)"),
    "delta3_is_p": (
        "it matches delta3 = p (the probabilities) instead of p - onehot(y): the output delta of softmax with "
        "cross-entropy subtracts 1 at the true class"),
    "untransposed_propagation": (
        "it matches delta2 passed back through W2 itself instead of its transpose: delta1 = (delta2 @ W2.T) * "
        "a1 * (1 - a1) (W2 is square, so the shapes do not catch it)"),
}
# The hint for a batch forward pass equal to what each mistake of hidden/reference.FORWARD_MISTAKES gives.
FORWARD_MISTAKES = {
    "softmax_over_columns": (
        "each column sums to 1, not each row: the softmax ran over axis 0, across the images (the provided softmax "
        "normalises one vector); take the softmax over each row (axis=1, keepdims=True)"),
    "softmax_over_batch": (
        "all entries together sum to 1: the softmax normalised the whole batch at once; take the softmax over each "
        "row (axis=1, keepdims=True)"),
    "logits": "these are the output layer's logits a2 @ W3 + b3: apply the softmax over each row",
    "sigmoid_output": "the output layer applies the sigmoid: it should apply the softmax over each row",
    "no_biases": "it matches the network without its biases: add b1, b2 and b3 to each layer's pre-activation",
}


def probabilities(weights, biases, x: np.ndarray, divisor: float = 1.0) -> np.ndarray:
    """Class probabilities (n, 10) of the network for image rows ``x`` (n, 784) divided by ``divisor``: the trusted
    forward pass, shared by the checks' evaluation of returned weights and the reference values."""
    __tracebackhide__ = True
    return dense_outputs(list(zip(weights, biases, ACTIVATIONS)), x, divisor=divisor)


def check_backward_cost(ratio: float) -> None:
    """Fail when ``backward`` cost more than MAX_BACKWARD_COST forward passes: it is not backpropagation."""
    __tracebackhide__ = True
    if not ratio <= MAX_BACKWARD_COST:
        raise StudentFailure(
            f"backward took as long as {ratio:,.0f} forward passes of the same image (at most {MAX_BACKWARD_COST} "
            f"allowed): this looks like finite or complex-step differences of the forward pass, not "
            f"backpropagation, which costs a few forward passes (each layer's delta from the next one's)")


def read_array(value, what: str, shape: tuple | None = None, hint: str = "") -> np.ndarray:
    """``value`` as a float64 array of ``shape``, or a StudentFailure that describes what came back (a number as a
    number, an array by its shape) and names a transposed shape."""
    __tracebackhide__ = True
    if isinstance(value, (dict, str)) or value is None:
        raise StudentFailure(f"{what}: expected an array of numbers, got {describe_value(value)}")
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise StudentFailure(f"{what}: expected an array of numbers, got {describe_value(value)}, which is not "
                             f"one (a ragged list?)") from None
    if shape is None or arr.shape == tuple(shape):
        return arr
    if arr.size == 1 and arr.ndim <= 1:  # the wire format carries a returned 0-d value as shape (1,)
        got = f"a number ({describe_value(arr.ravel()[0])})"
    elif arr.ndim == 2 and arr.shape == tuple(shape)[::-1]:
        got = f"shape {arr.shape}, the transpose"
        hint = hint or ("weights are (n_in, n_out), so that a layer computes a @ W + b for a row a: "
                        "dL/dW = outer(the layer's input, its delta)")
    else:
        got = f"an array of shape {arr.shape}"
    raise StudentFailure(f"{what}: expected an array of shape {tuple(shape)}, got {got}"
                         + (f"\nHint: {hint}" if hint else ""))


def read_params(value, what: str, sizes=SIZES) -> tuple[list, list]:
    """(weights, biases) as float64 arrays with the expected shapes, or a StudentFailure."""
    __tracebackhide__ = True
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise StudentFailure(f"{what}: expected a pair (weights, biases), got {describe_value(value)}")
    weights, biases = value
    if not isinstance(weights, list) or len(weights) != 3 or not isinstance(biases, list) or len(biases) != 3:
        raise StudentFailure(f"{what}: weights and biases must be lists of three arrays each; got "
                             f"{describe_value(weights)} and {describe_value(biases)}")
    w = [read_array(weights[i], f"{what}: W{i + 1}", shape=(sizes[i], sizes[i + 1])) for i in range(3)]
    b = [read_array(biases[i], f"{what}: b{i + 1}", shape=(sizes[i + 1],)) for i in range(3)]
    return w, b


def random_params(seed: int | np.random.Generator, sizes=SIZES):
    rng = np.random.default_rng(seed)  # a Generator passes through
    w = [rng.normal(0, 1 / np.sqrt(max(sizes[i], sizes[i + 1])), (sizes[i], sizes[i + 1])) for i in range(3)]
    b = [rng.normal(0, 0.1, sizes[i + 1]) for i in range(3)]
    return w, b


def random_image(seed: int | np.random.Generator) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, 784)
    x[rng.uniform(size=784) < 0.6] = 0.0  # like MNIST: most pixels are exactly 0
    return x


def close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-6) -> bool:
    """Whether ``a`` equals ``b`` (same shape) to ``rtol`` of ``b``'s largest entry: how a wrong answer is matched
    against what a known mistake gives (mistakes differ from the right answer by far more)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or not np.all(np.isfinite(a)):
        return False
    return bool(np.all(np.abs(a - b) <= rtol * max(float(np.max(np.abs(b), initial=0.0)), 1e-300)))


def scale_of(got: np.ndarray, right: np.ndarray) -> float | None:
    """The k with ``got == k * right`` (to 1e-6), or None."""
    denom = float(np.vdot(right, right))
    if got.shape != right.shape or denom == 0 or not np.all(np.isfinite(got)):
        return None
    k = float(np.vdot(got, right)) / denom
    return k if close(got, k * right) else None


def name_factor(k: float, learning_rate: float) -> str:
    """What a stray factor ``k`` in a gradient or a step most likely is."""
    for value, what in ((learning_rate, f"the learning rate {learning_rate:g}"),
                        (LEARNING_RATE, f"the learning rate {LEARNING_RATE:g}"), (2.0, "a factor 2"),
                        (0.5, "a factor 1/2"), (-1.0, "a sign flip")):
        if abs(k - value) <= 1e-6 * abs(value):
            return what
    return ""


def describe_difference(got: np.ndarray, right: np.ndarray) -> str:
    """Where ``got`` differs from ``right`` (same shape) and by what factor, for a wrong answer that matches no
    known mistake: how many entries, in which rows and columns, and the ratio got / right there."""
    bad = ~np.isclose(got, right, rtol=1e-6, atol=1e-9 * max(float(np.max(np.abs(right), initial=0.0)), 1e-300))
    n_bad = int(bad.sum())
    if n_bad == 0:
        return "every entry agrees to 1e-6"
    parts = [f"{n_bad:,} of {bad.size:,} entries differ"]
    if bad.ndim == 2:
        rows, cols = np.flatnonzero(bad.any(axis=1)), np.flatnonzero(bad.any(axis=0))
        parts.append(f"in {len(rows)} of {bad.shape[0]} rows and {len(cols)} of {bad.shape[1]} columns"
                     + (f" (rows {', '.join(map(str, rows[:4]))})" if len(rows) <= 4 else ""))
    zero = bad & (right == 0)
    if zero.any():
        parts.append(f"{int(zero.sum()):,} of them should be exactly 0")
    ratio = got[bad & (right != 0)] / right[bad & (right != 0)]
    if ratio.size:
        low, mid, high = np.quantile(ratio, [0, 0.5, 1])
        parts.append(f"yours / expected there is {low:.3g}" if np.isclose(low, high, rtol=1e-3) else
                     f"yours / expected there runs from {low:.3g} to {high:.3g} (median {mid:.3g})")
    return "; ".join(parts)


def gradient_hint(name: str, got: np.ndarray, right: np.ndarray, mistakes: dict[str, np.ndarray],
                  layer_input: np.ndarray | None = None) -> str:
    """The hint for a wrong gradient ``got`` of ``name`` (one of NAMES): the known mistake it equals, else what
    differs. ``right``: the right gradient; ``mistakes``: what each mistake of GRADIENT_MISTAKES gives for this
    parameter; ``layer_input``: the input of the parameter's layer (x, a1 or a2), to recognise a bias gradient summed
    from the weight gradient."""
    for mistake, wrong in mistakes.items():
        if not close(right, wrong) and close(got, wrong):
            return GRADIENT_MISTAKES[mistake]
    if got.ndim == 2 and got.shape == right.shape and close(got, right.T):
        return (f"it is the transpose of the right gradient: dL/d{name} = outer(the layer's input, its delta), of "
                f"shape (n_in, n_out)")
    k = scale_of(got, right)
    if k is not None:
        if k == -1 or abs(k + 1) <= 1e-6:
            return "the sign is flipped: return the gradient of the loss, not the descent direction"
        if name.startswith("b") and layer_input is not None and abs(k - layer_input.sum()) <= 1e-6 * abs(k):
            return (f"it is the right gradient times the sum of the layer's inputs ({k:.4g}): d{name} looks like "
                    f"the weight gradient outer(input, delta) summed over its inputs; dL/db is the delta itself")
        factor = name_factor(k, LEARNING_RATE)
        if factor:
            return (f"it is the right gradient times {k:.4g}, {factor}: backward returns the gradient of the loss "
                    f"alone (the SGD step multiplies by the learning rate; the cross-entropy has no factor 2)")
        return f"it is the right gradient times {k:.4g}: look for a stray factor"
    if name.startswith("b") and layer_input is not None and close(got, layer_input * right.sum()):
        return (f"it is the layer's input times the sum of the delta: d{name} looks like the weight gradient "
                f"outer(input, delta) summed over its outputs (axis 1); dL/db is the delta itself")
    return "no known mistake gives this gradient: " + describe_difference(got, right)


def bias_shape_hint(name: str, got: np.ndarray, right: np.ndarray, layer_input: np.ndarray | None) -> str:
    """The hint for a bias gradient of the wrong shape: a sum over the wrong axis, or over everything."""
    if got.size == 1 and got.ndim <= 1 and np.isclose(float(got.ravel()[0]), float(right.sum()), rtol=1e-6):
        return (f"it is the sum of the right gradient's entries: dL/d{name} is the layer's delta itself, one entry "
                f"per unit (for one image there is no batch axis to sum over)")
    if layer_input is not None and got.shape == layer_input.shape and np.allclose(
            got, layer_input * right.sum(), rtol=1e-6,  # the output delta sums to 0: an absolute floor
            atol=1e-9 * float(np.max(np.abs(layer_input))) * float(np.max(np.abs(right)))):
        return (f"it is the weight gradient outer(input, delta) summed over its outputs (axis 1); dL/d{name} is "
                f"the delta itself, one entry per unit")
    return f"dL/d{name} has one entry per unit of the layer: the layer's delta"


def read_gradient(value, name: str, right: np.ndarray, layer_input: np.ndarray | None = None) -> np.ndarray:
    """The returned gradient of ``name`` as float64 of ``right``'s shape, or a StudentFailure whose hint names a
    transposed or summed shape."""
    __tracebackhide__ = True
    hint = ""
    if name.startswith("b"):
        try:
            arr = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            arr = None
        if arr is not None and arr.shape != right.shape:
            hint = bias_shape_hint(name, arr, right, layer_input)
    return read_array(value, f"gradient of {name}", shape=right.shape, hint=hint)


def read_number(value, what: str) -> float:
    """A returned number (a 0-d or one-entry array counts as one), or a StudentFailure that describes what came
    back."""
    __tracebackhide__ = True
    if isinstance(value, (bool, dict, str)) or value is None:
        raise StudentFailure(f"{what}: expected a number, got {describe_value(value)}")
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise StudentFailure(f"{what}: expected a number, got {describe_value(value)}") from None
    if arr.size != 1:
        raise StudentFailure(f"{what}: expected a number, got {describe_value(value)}")
    return float(arr.ravel()[0])


def step_outcome(before: np.ndarray, after: np.ndarray, gradient: np.ndarray, learning_rate: float,
                 mistakes: dict[str, np.ndarray]) -> tuple[str, str]:
    """What one SGD step did to one parameter: ``(kind, detail)`` with kind one of ``"right"``, ``"unchanged"``,
    ``"uphill"`` (``p + lr * g``), ``"scaled"`` (``p - k * g``; detail: k), ``"mistake"`` (``p - lr * g'`` with
    ``g'`` what a known gradient mistake gives; detail: its key) or ``"other"`` (detail: what differs)."""
    moved = before - after  # the descent step taken
    want = learning_rate * gradient
    if close(moved, want):
        return "right", ""
    if np.array_equal(before, after):
        return "unchanged", ""
    if close(moved, -want):
        return "uphill", ""
    k = scale_of(moved, gradient)
    if k is not None:
        return "scaled", repr(k)
    for mistake, wrong in mistakes.items():
        if not close(wrong, gradient) and close(moved, learning_rate * wrong):
            return "mistake", mistake
    return "other", describe_difference(moved / learning_rate, gradient)


def step_hint(outcomes: dict[str, tuple[str, str]], learning_rate: float, returned_params: bool) -> str:
    """The hint for a wrong SGD step from each parameter's :func:`step_outcome` (by name, in NAMES order):
    ``returned_params`` says train_one_sample returned parameters instead of the loss."""
    kinds = {name: kind for name, (kind, _) in outcomes.items()}
    unchanged = [n for n in NAMES if kinds[n] == "unchanged"]
    wrong = [n for n in NAMES if kinds[n] != "right"]
    hints = []
    if len(unchanged) == len(NAMES):
        hints.append("none of the caller's arrays changed" + (
            ": train_one_sample returned new parameters instead; " if returned_params else "; ")
            + "update the arrays in place (W -= learning_rate * grad, or W[...] = ...) and return the loss: "
              "W = W - learning_rate * grad inside the function makes a new array the caller never sees")
    elif unchanged and all(n.startswith("b") for n in unchanged) and len(unchanged) == 3:
        hints.append("the weights moved but the biases did not: update the biases too (b -= learning_rate * "
                     "delta), in place")
    elif unchanged:
        hints.append(f"{', '.join(unchanged)} did not change: update every array in place ({unchanged[0]} -= "
                     f"learning_rate * grad); {unchanged[0]} = {unchanged[0]} - step makes a new array the caller "
                     f"never sees")
    if any(kinds[n] == "uphill" for n in wrong):
        hints.append("the step goes uphill (p += learning_rate * gradient): SGD subtracts the gradient")
    for name in wrong:
        kind, detail = outcomes[name]
        if kind == "scaled":
            k = float(detail)
            if abs(k - LEARNING_RATE) <= 1e-6 * LEARNING_RATE and abs(learning_rate - LEARNING_RATE) > 1e-12:
                hints.append(f"the step used the learning rate {LEARNING_RATE:g} (the default) instead of the "
                             f"learning_rate argument, {learning_rate:g}")
            elif abs(k - 1) <= 1e-6:
                hints.append("the step is the whole gradient: multiply it by learning_rate")
            else:
                hints.append(f"the step is {k:.4g} * gradient, not learning_rate * gradient ({learning_rate:g} * "
                             f"gradient)")
            break
    for name in wrong:
        kind, detail = outcomes[name]
        if kind == "mistake":
            hints.append(f"the step follows a wrong gradient of {name}: {GRADIENT_MISTAKES[detail]}")
            break
    if not hints:
        name = wrong[0]
        hints.append(f"{name} moved by other than -learning_rate * gradient: the step / learning_rate differs "
                     f"from the gradient: {outcomes[name][1]}")
    return "; also ".join(hints[:2])
