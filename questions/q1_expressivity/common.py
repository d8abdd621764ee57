"""Trusted forward pass and expectations for Q1 (shared by the visible and hidden checks).

A step network's output is a step function of x: constant between the switch points ``-b1[i] / W1[i]`` of its
neurons. The checks read that function exactly (:func:`pieces`) to name what is wrong with it: the output bias, the
height, the sign, the width or place of a box, the number and width of a staircase's boxes, a height taken outside
its box, a gap or an overlap.
"""

from __future__ import annotations

import numpy as np

from grader.checking.checklib import as_float64
from grader.running.runner import StudentFailure

STEM = __name__.split(".")[1]  # the folder's name: the module students write


def _shape_text(arr: np.ndarray) -> str:
    return "a single number (a 0-d array)" if arr.ndim == 0 else f"shape {arr.shape}"


def read_network(value, what: str, max_hidden: int | None = None, exact_hidden: int | None = None) -> dict:
    """Validate a returned step network and return float64 W1, b1, W2 (k,) and b2 (scalar)."""
    __tracebackhide__ = True
    if not isinstance(value, dict):
        raise StudentFailure(f"{what}: expected a dict with keys W1, b1, W2, b2, got {type(value).__name__}")
    missing = [k for k in ("W1", "b1", "W2", "b2") if k not in value]
    if missing:
        raise StudentFailure(f"{what}: the network dict is missing {', '.join(missing)} "
                             f"(it has {', '.join(sorted(value)) or 'no keys'})")
    raw = {k: as_float64(value[k], f"{what}[{k!r}]") for k in ("W1", "b1", "W2")}
    net = {k: arr.ravel() for k, arr in raw.items()}
    b2 = as_float64(value["b2"], f"{what}['b2']")
    if b2.size != 1:
        raise StudentFailure(f"{what}['b2'] must be one number (the output neuron's bias), got {_shape_text(b2)}")
    net["b2"] = float(b2.ravel()[0])
    k = net["W1"].size
    if not (net["b1"].size == k == net["W2"].size):
        shapes = ", ".join(f"{key} {_shape_text(arr)}" for key, arr in raw.items())
        raise StudentFailure(f"{what}: W1, b1 and W2 must each be an array of shape (k,), one entry per hidden "
                             f"neuron; got {shapes}")
    if exact_hidden is not None and k != exact_hidden:
        got = "W1 is a single number" if raw["W1"].ndim == 0 else f"got {k}"
        raise StudentFailure(f"{what}: expected exactly {exact_hidden} hidden step neurons (W1 of shape "
                             f"({exact_hidden},)), {got}")
    if max_hidden is not None and k > max_hidden:
        raise StudentFailure(f"{what}: the hidden layer has {k} neurons; at most {max_hidden} are allowed "
                             f"(two per box, or one per box edge)")
    for key in ("W1", "b1", "W2"):
        if not np.all(np.isfinite(net[key])):
            raise StudentFailure(f"{what}['{key}'] contains NaN or inf")
    if not np.isfinite(net["b2"]):
        raise StudentFailure(f"{what}['b2'] is not finite")
    return net


def forward(net: dict, x: np.ndarray, step_at_zero: float) -> np.ndarray:
    """y(x) = W2 . step(W1 x + b1) + b2 with step(0) = ``step_at_zero``; computed here, never by student code."""
    s = np.multiply.outer(x, net["W1"]) + net["b1"]
    act = np.where(s > 0, 1.0, np.where(s == 0, step_at_zero, 0.0))
    return act @ net["W2"] + net["b2"]


def switch_points(net: dict, scale: float) -> np.ndarray:
    """The sorted distinct x where a neuron switches (``-b / w`` for ``w != 0``), merged within ``1e-9 * scale``."""
    w, b = net["W1"], net["b1"]
    with np.errstate(over="ignore"):
        t = np.sort(-b[w != 0] / w[w != 0])
    t = t[np.isfinite(t)]
    if t.size == 0:
        return t
    keep = np.concatenate([[True], np.diff(t) > 1e-9 * scale])
    return t[keep]


def pieces(net: dict, scale: float, extra=()) -> tuple[np.ndarray, np.ndarray]:
    """The output as a step function: breakpoints ``t`` (k,) (the switch points and ``extra``) and the output on the
    k + 1 open pieces between them, ``values[0]`` left of ``t[0]`` and ``values[k]`` right of ``t[-1]``."""
    t = np.union1d(switch_points(net, scale), np.asarray(extra, dtype=np.float64))
    if t.size == 0:
        return t, forward(net, np.array([0.0]), 1.0)
    pad = max(scale, float(np.max(np.abs(t))))
    probes = np.concatenate([[t[0] - pad], t[:-1] + np.diff(t) * 0.5, [t[-1] + pad]])
    return t, forward(net, probes, 1.0)


def box_target(x: np.ndarray, h: float, delta: float) -> np.ndarray:
    return np.where((x > 0) & (x < delta), h, 0.0)


def box_grid(delta: float, seed: int, avoid=()) -> np.ndarray:
    """Dense and random points around the box, keeping clear by a relative 1e-6 of delta of the box's edges and of
    the points in ``avoid`` (the network's own switch points: a value exactly there says nothing)."""
    rng = np.random.default_rng(seed)
    dense = np.linspace(-1.5 * delta, 2.5 * delta, 4001)
    rand = rng.uniform(-3 * delta, 4 * delta, 2000)
    far = np.array([-1e3, -10.0, 10.0, 1e3]) * max(delta, 1.0)
    x = np.concatenate([dense, rand, far])
    margin = 1e-6 * delta
    edges = np.concatenate([[0.0, delta], np.asarray(avoid, dtype=np.float64)])
    keep = np.all(np.abs(x[:, None] - edges[None, :]) > margin, axis=1)
    return x[keep]


def _close(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol


def _ratio_words(r: float) -> str:
    """A ratio as words when it is a simple one ("twice", "half"), else ''."""
    for value, words in ((2.0, "twice"), (0.5, "half"), (3.0, "three times"), (1 / 3, "a third of")):
        if abs(r - value) <= 1e-6 * value:
            return words
    return ""


def _in_delta(x: float, delta: float) -> str:
    """A point named relative to the box: "0", "delta", "2 delta", "delta/2", or its value (visible checks only)."""
    if abs(x) <= 1e-9 * delta:
        return "0"
    for k, name in ((1, "delta"), (-1, "-delta"), (2, "2 delta"), (-2, "-2 delta"), (0.5, "delta/2"),
                    (-0.5, "-delta/2"), (3, "3 delta")):
        if abs(x - k * delta) <= 1e-9 * delta:
            return name
    return f"{x:.6g}"


def diagnose_box(net: dict, h: float, delta: float, reveal: bool = True) -> str:
    """A hint naming the mistake from the network's exact output; with ``reveal`` False it quotes no input (hidden
    checks). Known mistakes: a wrong output bias, sign, height, a box that never switches off or is on already left
    of 0, a box of the wrong width or at the wrong place; otherwise it says on which side the output differs."""
    t, values = pieces(net, delta, extra=(0.0, delta))
    mids = np.concatenate([[t[0] - delta], t[:-1] + np.diff(t) * 0.5, [t[-1] + delta]])
    target = box_target(mids, h, delta)
    tol = 1e-9 * max(1.0, abs(h))
    diff = values - target
    if np.all(np.abs(diff - diff[0]) <= tol) and abs(diff[0]) > tol:
        c = diff[0]
        amount = f" by {c:.6g}" if reveal else ""
        should = f" (it is {net['b2']:.6g}; this box needs {net['b2'] - c:.6g})" if reveal else ""
        return (f"the output is {'too high' if c > 0 else 'too low'}{amount} everywhere, left of, inside and right "
                f"of the box: the shape is right and the output bias b2 is wrong{should}")
    inside = (mids > 0) & (mids < delta)
    outside_zero = np.all(np.abs(values[~inside]) <= tol)
    if outside_zero and np.all(np.abs(values[inside] + h) <= tol):
        return ("the box has the right place but the wrong sign (-h inside): the signs of the output weights "
                "W2 are swapped, or the neuron that should switch on at x = 0 switches at x = delta and the other "
                "way round")
    if outside_zero and h != 0 and np.ptp(values[inside]) <= tol and abs(values[inside][0]) > tol:
        r = values[inside][0] / h
        if _close(r, 1 / delta, 1e-6 / delta):
            named = "h/delta"
        elif _close(r, delta, 1e-6 * delta):
            named = "h*delta"
        else:
            named = f"{r:.4g} times h" if reveal else ""
        got = f" ({named})" if named else ""
        return (f"the box has the right place but the wrong height{got}: the height is set by the output weights "
                f"W2 (and b2), which should add h inside the box and cancel outside")
    left, right = mids < 0, mids > delta
    if np.all(np.abs(values[left]) <= tol) and np.all(np.abs(values[inside | right] - h) <= tol):
        return "the output never switches off after x = delta: the second neuron should cancel the first there"
    if np.all(np.abs(values[left | inside] - h) <= tol):
        return "the output is already h for x < 0: check the first neuron's bias (it should switch on at x = 0)"
    on = np.abs(values - values[0]) > tol
    if abs(values[0]) <= tol and on.any():
        first, last = int(np.argmax(on)), len(on) - 1 - int(np.argmax(on[::-1]))
        height = values[first]
        if np.all(on[first:last + 1]) and np.ptp(values[first:last + 1]) <= tol and abs(values[-1]) <= tol:
            start, end = t[first - 1], t[last]
            sign = ", with the opposite sign" if _close(height, -h, tol) else ""
            if _close(height, h, tol) or sign:
                switch = "a neuron with input weight w and bias b switches at x = -b/w"
                if abs(start) <= 1e-9 * delta:
                    r = end / delta
                    words = _ratio_words(r) if reveal else ""
                    size = f"{words} as wide as it should be" if words else f"too {'wide' if r > 1 else 'narrow'}"
                    ends = f" at x = {_in_delta(end, delta)}" if reveal else (" after delta" if r > 1 else
                                                                              " before delta")
                    return (f"the box starts at x = 0 but ends{ends} instead of at delta{sign}: it is {size} "
                            f"(a box of the wrong width); {switch}")
                if not reveal:
                    where = (f"{'starts left of' if start < 0 else 'starts right of'} 0 and ends "
                             f"{'before' if end < delta else 'after'} delta")
                    return f"the box is at the wrong place: it {where}{sign}; {switch}"
                return (f"the box is on ({_in_delta(start, delta)}, {_in_delta(end, delta)}) instead of (0, delta)"
                        f"{sign}: {switch}")
    inside_val = forward(net, np.array([delta / 2]), 1.0)[0]
    if abs(inside_val) <= tol:
        return ("the output stays 0 in the middle of the box: check that one neuron switches on at x = 0 and the "
                "other at x = delta, with output weights that add h between them")
    sides = [name for name, mask in (("left of the box", left), ("inside it", inside), ("right of it", right))
             if np.any(np.abs(diff[mask]) > tol)]
    return (f"the output differs from the box {' and '.join(sides)}; a hidden neuron with input weight w and bias b "
            f"switches at x = -b/w, and adds its output weight to the output from there on")


def check_box(value, h: float, delta: float, seed: int, what: str, reveal: bool = True) -> None:
    """Fail unless the returned network is the box of height ``h`` on (0, ``delta``); with ``reveal`` False (hidden
    checks) the message names where it goes wrong (left of, inside, right of the box, at an edge) but no number."""
    __tracebackhide__ = True
    net = read_network(value, what, exact_hidden=2)
    x = box_grid(delta, seed, avoid=switch_points(net, delta))
    target = box_target(x, h, delta)
    tol = 1e-9 * max(1.0, abs(h))
    for conv in (0.0, 1.0):
        y = forward(net, x, conv)
        bad = ~(np.abs(y - target) <= tol)  # NaN (an overflowing forward pass) is wrong too
        if bad.any():
            # report the middle of the widest wrong piece: clear of the box's edges and of the network's own
            t, values = pieces(net, delta, extra=(0.0, delta))
            bounds = np.concatenate([[min(t[0], 0.0) - delta], t, [max(t[-1], delta) + delta]])
            mids = bounds[:-1] + np.diff(bounds) * 0.5
            wrong = ~(np.abs(values - box_target(mids, h, delta)) <= tol)
            widths = np.where(wrong, np.diff(bounds), -1.0)
            p = int(np.argmax(widths)) if wrong.any() else None
            xp, yp = (mids[p], values[p]) if p is not None else (x[int(np.argmax(bad))], y[int(np.argmax(bad))])
            if reveal:
                where = (f"at x = {xp:.6g} the network outputs {yp:.6g}, but the box of height h = {h:g} and "
                         f"width delta = {delta:g} is {box_target(np.array([xp]), h, delta)[0]:g} there")
            else:
                side = "left of the box" if xp < 0 else "inside the box" if xp < delta else "right of the box"
                where = f"the network is wrong {side}"
            raise StudentFailure(f"{what}: {where} ({int(bad.sum())} of {x.size} test points wrong).\n"
                                 f"Hint: {diagnose_box(net, h, delta, reveal)}")
    for edge, name in ((0.0, "0"), (delta, "delta")):
        for conv in (0.0, 1.0):
            y = forward(net, np.array([edge]), conv)[0]
            if min(abs(y), abs(y - h)) > tol:
                got = f"outputs {y:.6g}" if reveal else "outputs neither 0 nor h"
                raise StudentFailure(
                    f"{what}: exactly at x = {name if not reveal else f'{edge:g}'} the network {got} (with "
                    f"step(0) = {conv:g}); at the box's edges either 0 or h"
                    f"{f' = {h:g}' if reveal else ''} is accepted, nothing else.\nHint: two neurons switch at the "
                    f"same point there, and their output weights do not add up to 0 or h")


def approximation_error(net: dict, f, B: float, n_points: int = 20011, seed: int = 0) -> float:
    """Max |net(x) - f(x)| over a fine grid of the open interval and random points, for both step conventions."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([np.linspace(-B, B, n_points)[1:-1] + B * 1e-7 * np.pi, rng.uniform(-B, B, 5000)])
    x = x[np.abs(x) < B]
    fx = f(x)
    return max(float(np.max(np.abs(forward(net, x, conv) - fx))) for conv in (0.0, 1.0))


def lipschitz(f, B: float) -> float:
    x = np.linspace(-B, B, 200001)
    return float(np.max(np.abs(np.diff(f(x)) / np.diff(x))))


def interp_grid(f, B: float):
    xs = np.linspace(-1.5 * B, 1.5 * B, 60001)
    return xs, f(xs)


def error_bound(L: float, B: float, N: int) -> float:
    """The bound the contract promises: L * 2B/N (heights f at any point of boxes of width 2B/N)."""
    return L * 2 * B / N


def _count_words(m: int, n: int, reveal: bool) -> tuple[str, str]:
    """("M boxes", "M") for a staircase of m boxes, written relative to N where the check's N is hidden."""
    if reveal:
        return f"{m} boxes", str(m)
    for k, words in ((n - 1, "N - 1"), (n + 1, "N + 1"), (2 * n, "2N"), (n // 2, "N/2")):
        if m == k:
            return f"{words} boxes", f"({words})"
    return f"{'fewer' if m < n else 'more'} boxes than N", "M"


def _staircase_steps(net: dict, B: float, N: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points inside (-B, B) where the output really changes, their jumps, and the output on each piece."""
    t, values = pieces(net, B)
    jumps = np.diff(values)
    scale = max(1.0, float(np.max(np.abs(values))))
    inner = (t > -B + 1e-6 * 2 * B / N) & (t < B - 1e-6 * 2 * B / N) & (np.abs(jumps) > 1e-12 * scale)
    return t[inner], jumps[inner], values


def check_staircase(net: dict, f, B: float, N: int, what: str, reveal: bool = True) -> None:
    """Fail unless the output is a staircase on the N boxes of width 2B/N tiling [-B, B]: it steps only at box
    edges (an edge may have no step where two neighbouring heights are equal), each box's height is a value f
    takes on that box, and at x = -B and x = B (both included, step(0) = 1) the error is within the bound.

    ``f`` is the trusted function; with ``reveal`` False (hidden checks) no input (B, N, f) is quoted."""
    __tracebackhide__ = True
    width = 2 * B / N
    edges = -B + width * np.arange(N + 1)
    steps, jumps, _ = _staircase_steps(net, B, N)
    k = np.rint((steps + B) / width)
    off = np.abs(steps - (-B + k * width)) > 1e-6 * width
    if off.any():
        i = int(np.argmax(off))
        j = int(np.clip(np.floor((steps[i] + B) / width), 0, N - 1))
        where = (f"at x = {steps[i]:.6g}, inside box {j + 1} of {N} ([{edges[j]:.6g}, {edges[j + 1]:.6g}])" if reveal
                 else f"inside box {j + 1} of N")
        raise StudentFailure(f"{what}: the output should be constant on each of the N{f' = {N}' if reveal else ''} "
                             f"boxes of width 2B/N, but it steps {where} ({int(off.sum())} such steps).\nHint: "
                             f"{_diagnose_steps(net, steps, B, N, reveal)}")
    L = lipschitz(f, B)
    mids = edges[:-1] + np.diff(edges) * 0.5
    heights = forward(net, mids, 1.0)
    fine = edges[:-1, None] + width * np.linspace(0.0, 1.0, 257)[None, :]
    fvals = f(fine)
    lo, hi = fvals.min(axis=1), fvals.max(axis=1)
    slack = 1e-7 * (1.0 + float(np.max(np.abs(fvals)))) + L * width / 256 / 2
    outside = ~((heights >= lo - slack) & (heights <= hi + slack))
    if outside.any():
        j = int(np.argmax(outside))
        if reveal:
            detail = (f"on box {j + 1} of {N}, [{edges[j]:.6g}, {edges[j + 1]:.6g}], the output is {heights[j]:.6g}, "
                      f"but f stays between {lo[j]:.6g} and {hi[j]:.6g} there")
        else:
            detail = f"on box {j + 1} of N the output is a value that f does not take on that box"
        raise StudentFailure(f"{what}: {detail} ({int(outside.sum())} of the boxes have such a height).\nHint: "
                             f"{_diagnose_heights(heights, lo, hi, slack, outside)}")
    bound = error_bound(L, B, N)
    for end, name in ((-B, "-B"), (B, "B")):
        y = forward(net, np.array([end]), 1.0)[0]
        fe = float(f(np.array([end]))[0])
        if not abs(y - fe) <= bound * (1 + 1e-6):
            got = f" the output is {y:.6g} and f({name}) = {fe:.6g}," if reveal else ""
            off_at_end = abs(y) <= 1e-12 * max(1.0, abs(fe))
            hint = ("the output is 0 exactly there: with step(0) = 1 a neuron whose input is 0 at that end is on, "
                    "so a box that should end at B (or start at -B) is already switched off (or not yet on). Make "
                    "the last box include x = B, for example by letting its closing neuron switch beyond B"
                    if off_at_end else "the first box must include x = -B and the last one x = B")
            raise StudentFailure(f"{what}: at x = {name}, an end of the interval (both ends are included),{got} an "
                                 f"error above the bound L*2B/N.\nHint: {hint}")


def _on_grid(points: np.ndarray, origin: float, w: float) -> bool:
    k = (points - origin) / w
    return bool(np.all(np.abs(k - np.rint(k)) <= 1e-6))


def _diagnose_steps(net: dict, steps: np.ndarray, B: float, N: int, reveal: bool) -> str:
    """Name a staircase's step mistake: another number of boxes, another width, another interval, a gap or an
    overlap. A step can be missing where two neighbouring heights are equal, so widths are read off the grid the
    steps lie on, not off their count."""
    t, values = pieces(net, B)
    for i in range(1, len(values) - 1):
        a, b = t[i - 1], t[i]
        if not (-B < a < B and -B < b < B) or b - a >= B / N:
            continue
        left, mid, right = values[i - 1], values[i], values[i + 1]
        scale = 1e-9 * max(1.0, abs(left), abs(right))
        if abs(mid) <= scale and (abs(left) > scale or abs(right) > scale):
            return ("there is a gap between two boxes, where the output drops to 0: each box should end where the "
                    "next one starts")
        if abs(mid - (left + right)) <= scale and abs(left) > scale and abs(right) > scale:
            return ("two boxes overlap, and their heights add up where they do: each box should end where the next "
                    "one starts")
    widths = [steps[0] + B] + ([float(np.min(np.diff(steps)))] if steps.size >= 2 else [])
    for w in widths:
        m = 2 * B / w if w > 0 else 0.0
        # the grid must explain every step, and many of its points must be steps
        if w <= 0 or not _on_grid(steps, -B, w) or steps.size < 0.2 * (m - 1):
            continue
        if steps[0] > -B + 1.5 * w or steps[-1] < B - 1.5 * w:
            between = f" between x = {steps[0]:.6g} and x = {steps[-1]:.6g}" if reveal else " on part of [-B, B]"
            return (f"the output steps only{between}: the N boxes should tile all of [-B, B], from -B to B (are "
                    f"the edges -B + j*2B/N for j = 0..N?)")
        if abs(m - round(m)) <= 1e-6 * m and 2 <= round(m) <= 4 * N and steps.size >= 0.5 * (m - 1):
            m = int(round(m))
            boxes, denominator = _count_words(m, N, reveal)
            return (f"it has {boxes} of width 2B/{denominator}: it needs N"
                    f"{f' = {N}' if reveal else ''} boxes of width 2B/N (count the boxes, and the edges -B + j*2B/N "
                    f"for j = 0..N)")
        ratio = _ratio_words(w / (2 * B / N))
        size = f"{'half of' if ratio == 'half' else ratio} 2B/N" if ratio else (f"{w:.6g} instead of 2B/N = {2 * B / N:.6g}" if reveal else
                                              "a width other than 2B/N")
        return f"the output steps every {size}: the boxes have the wrong width (each should be 2B/N wide)"
    if steps.size >= 2 and _on_grid(steps, steps[0], widths[1]) and steps.size >= 0.5 * (2 * B / widths[1] - 2):
        other = f" ({widths[1]:.6g} apart, where 2B/N = {2 * B / N:.6g})" if reveal else ""
        return (f"the steps are evenly spaced{other} but not on the edges -B + j*2B/N: do the boxes tile another "
                f"interval than [-B, B] (is B fixed in your code)?")
    return ("a neuron switches at a point that is not a box edge -B + j*2B/N: the boxes should have width 2B/N, "
            "tile [-B, B] without gaps or overlaps, and a neuron with input weight w and bias b switches at x = -b/w")


def _diagnose_heights(heights, lo, hi, slack, outside) -> str:
    """Name a staircase's height mistake: heights shifted by a box, of the wrong sign, or 0."""
    def within(h, j):
        return 0 <= j < len(lo) and lo[j] - slack <= h <= hi[j] + slack
    wrong = np.flatnonzero(outside)
    for shift, words in ((1, "the next box's (to the right)"), (-1, "the previous box's (to the left)")):
        inside = [j for j in wrong if 0 <= j + shift < len(lo)]
        if len(inside) >= max(1, wrong.size - 1) and all(within(heights[j], j + shift) for j in inside):
            return f"each height looks like {words} value of f: the heights are shifted by one box"
    if all(lo[j] - slack <= -heights[j] <= hi[j] + slack for j in wrong):
        return "the heights have the wrong sign"
    if np.all(np.abs(heights[outside]) <= 1e-12):
        return "the output is 0 on those boxes: is a box missing, or its height not added?"
    return "each height should be f at a point of its box (its midpoint, or an end of it)"
