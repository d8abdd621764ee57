"""Q1 mistakes and their hints: each plausible mistake fails with words that name it; unusual answers pass.

The catalogue is tested twice: directly on networks (fast, with and without revealing the inputs), and through the
grader on submissions whose functions answer each call with a different mistake (one grading run covers a mutant per
check, visible and hidden).
"""

import re

import numpy as np
import pytest
from conftest import failed, solution_source

from grader.running.runner import StudentFailure
from questions.q1_expressivity.common import approximation_error, check_box, check_staircase, error_bound, lipschitz

STEM = "q1_expressivity"
H, D = 2.5, 0.5


def net(W1, b1, W2, b2=0.0) -> dict:
    return {"W1": np.array(W1, dtype=float), "b1": np.array(b1, dtype=float), "W2": np.array(W2, dtype=float),
            "b2": float(b2)}


BOX_MISTAKES = {  # name: (network for h = H, delta = D, words of the visible hint, words of the hidden hint)
    "output bias b2 = h": (net([1, 1], [0, -D], [H, -H], H), "output bias b2 is wrong (it is 2.5; this box needs 0)",
                           "output bias b2 is wrong"),
    "signs of W2 swapped": (net([1, 1], [0, -D], [-H, H]), "right place but the wrong sign", "wrong sign"),
    "thresholds swapped": (net([1, 1], [-D, 0], [H, -H]), "wrong sign", "the neuron that should switch on at x = 0"),
    "height 1 instead of h": (net([1, 1], [0, -D], [1, -1]), "wrong height (0.4 times h)", "wrong height:"),
    "height h/delta": (net([1, 1], [0, -D], [H / D, -H / D]), "wrong height (h/delta)", "wrong height (h/delta)"),
    "width 2 delta": (net([1, 1], [0, -2 * D], [H, -H]), "ends at x = 2 delta instead of at delta: it is twice as "
                      "wide", "ends after delta instead of at delta: it is too wide"),
    "fixed width 0.1": (net([1, 1], [0, -0.1], [H, -H]), "ends at x = 0.1 instead of at delta",
                        "ends before delta instead of at delta: it is too narrow"),
    "bias sign: box on (-delta, 0)": (net([1, 1], [0, D], [H, -H]), "the box is on (-delta, 0) instead of (0, delta)",
                                      "starts left of 0 and ends before delta"),
    "never switches off": (net([1, 1], [0, -D], [H, 0]), "never switches off", "never switches off"),
    "on already left of 0": (net([0, 1], [1, -D], [H, -H]), "already h for x < 0", "already h for x < 0"),
}

VALID_BOXES = {
    "step(-x + delta) - step(-x)": net([-1, -1], [D, 0], [H, -H]),
    "h step(x) + h step(delta - x) - h": net([1, -1], [0, D], [H, H], -H),
    "scaled negative weights": net([-2 / D, 3 / D], [2, 0], [H, H], -H),
    "switch points 1/delta apart, reordered": net([1 / D, 1 / D], [-1, 0], [-H, H]),
}


@pytest.mark.parametrize("name", BOX_MISTAKES)
@pytest.mark.parametrize("reveal", [True, False], ids=["visible", "hidden"])
def test_box_mistake_is_named(name, reveal):
    network, visible_words, hidden_words = BOX_MISTAKES[name]
    with pytest.raises(StudentFailure) as info:
        check_box(network, H, D, seed=1, what="box_network(h, delta)", reveal=reveal)
    message = str(info.value)
    assert (visible_words if reveal else hidden_words) in message, message
    if not reveal:  # a hidden check quotes no input
        assert "2.5" not in message and "0.5" not in message, message


def test_wrong_width_is_probed_clear_of_both_edges():
    with pytest.raises(StudentFailure) as info:
        check_box(net([1, 1], [0, -2 * D], [H, -H]), H, D, seed=1, what="box_network(h, delta)")
    x = float(re.search(r"at x = (\S+) the network", str(info.value)).group(1))
    assert x == pytest.approx(1.5 * D), str(info.value)  # the middle of (delta, 2 delta), not either edge


@pytest.mark.parametrize("name", VALID_BOXES)
def test_unusual_valid_box_passes(name):
    check_box(VALID_BOXES[name], H, D, seed=1, what="box_network(h, delta)")
    check_box(VALID_BOXES[name], H, D, seed=2, what="box_network(h, delta)", reveal=False)


def test_scalar_weights_are_reported_as_scalars():
    with pytest.raises(StudentFailure, match=r"W1 a single number \(a 0-d array\)"):
        check_box({"W1": np.array(1.0), "b1": [0.0, -D], "W2": [H, -H], "b2": 0.0}, H, D, seed=1, what="box")


F, B = np.sin, 2.7


def boxes(N, heights_at="left", m=None, width=None, shift=0, gap=0.0, overlap=0.0, close_last=True, f=F, b=B):
    """m boxes (default N) of the given width from -b, heights f at their left ends, midpoints or right ends."""
    m = m or N
    w = width or 2 * b / m
    starts = -b + w * np.arange(m)
    ends = starts + w + overlap - gap
    if close_last:
        ends[-1] = b + w
    c = f({"left": starts, "mid": starts + w / 2, "right": starts + w}[heights_at] + shift * w)
    return net(np.ones(2 * m), np.concatenate([-starts, -ends]), np.concatenate([c, -c]))


def telescoped(N, f=F, b=B, prune=False):
    """The reference's N + 1 neurons; with ``prune`` the neurons whose output weight is 0 are left out."""
    edges = np.linspace(-b, b, N + 1)
    c = f((edges[:-1] + edges[1:]) / 2)
    W2 = np.append(np.diff(c, prepend=0.0), c[-1])
    keep = W2 != 0 if prune else np.ones(N + 1, dtype=bool)
    return net(np.append(np.ones(N), -1.0)[keep], np.append(-edges[:-1], b)[keep], W2[keep], -c[-1])


STAIRCASE_MISTAKES = {  # name: (builder of N, visible words, hidden words)
    "N - 1 boxes": (lambda N: boxes(N, "mid", m=N - 1), "it has 3 boxes of width 2B/3: it needs N = 4 boxes",
                    "it has N - 1 boxes of width 2B/(N - 1): it needs N boxes"),
    "N + 1 boxes": (lambda N: boxes(N, "mid", m=N + 1), "it has 5 boxes", "N + 1 boxes"),
    "boxes of width B/N": (lambda N: boxes(N, width=B / N), "the output steps only between",
                           "the output steps only on part of [-B, B]"),
    "boxes on [0, B]": (lambda N: {**boxes(N, b=B / 2), "b1": boxes(N, b=B / 2)["b1"] - B / 2},
                        "the N boxes should tile all of [-B, B]", "the N boxes should tile all of [-B, B]"),
    "B fixed to pi": (lambda N: telescoped(N, b=np.pi), "do the boxes tile another interval", "is B fixed"),
    "gaps between boxes": (lambda N: boxes(N, gap=0.1 * 2 * B / N), "there is a gap between two boxes",
                           "there is a gap between two boxes"),
    "overlapping boxes": (lambda N: boxes(N, overlap=0.1 * 2 * B / N), "two boxes overlap", "two boxes overlap"),
    "heights shifted by one box": (lambda N: boxes(N, "mid", shift=1), "the heights are shifted by one box",
                                   "the heights are shifted by one box"),
    "heights with the wrong sign": (lambda N: {**telescoped(N), "W2": -telescoped(N)["W2"],
                                               "b2": -telescoped(N)["b2"]}, "the heights have the wrong sign",
                                    "the heights have the wrong sign"),
    "last box open at B": (lambda N: boxes(N, close_last=False), "at x = B, an end of the interval",
                           "Make the last box include x = B"),
}


@pytest.mark.parametrize("name", STAIRCASE_MISTAKES)
@pytest.mark.parametrize("reveal", [True, False], ids=["visible", "hidden"])
def test_staircase_mistake_is_named(name, reveal):
    build, visible_words, hidden_words = STAIRCASE_MISTAKES[name]
    with pytest.raises(StudentFailure) as info:
        for N in (4, 8, 16, 32):
            check_staircase(build(N), F, B, N, "approximate_function(f, B, N)", reveal=reveal)
    message = str(info.value)
    assert (visible_words if reveal else hidden_words) in message, message
    if not reveal:
        assert "2.7" not in message and "= 4" not in message, message


VALID_STAIRCASES = {
    "left ends, 2N neurons": lambda N, f: boxes(N, "left", f=f),
    "midpoints, 2N neurons": lambda N, f: boxes(N, "mid", f=f),
    "right ends, 2N neurons": lambda N, f: boxes(N, "right", f=f),
    "telescoped, N + 1 neurons": lambda N, f: telescoped(N, f=f),
    "telescoped without its zero-weight neurons": lambda N, f: telescoped(N, f=f, prune=True),
}


@pytest.mark.parametrize("name", VALID_STAIRCASES)
def test_unusual_valid_staircase_passes(name):
    flat = lambda x: np.minimum(np.sin(x), 0.3)  # noqa: E731 - equal neighbouring heights: some edges do not step
    for f in (F, flat):
        for N in (4, 8, 16, 32):
            network = VALID_STAIRCASES[name](N, f)
            check_staircase(network, f, B, N, "approximate_function(f, B, N)")
            assert approximation_error(network, f, B) <= error_bound(lipschitz(f, B), B, N) * (1 + 1e-6)


# Grading runs with one mistake per check: box_network answers the visible calls in order from _VISIBLE_BOXES and
# the hidden boxes (fixed inputs) from _HIDDEN_BOXES; approximate_function uses _STAIRCASES["visible"] in the worker
# whose first call has N = 4 (the visible check's), else the staircase of the hidden function, told apart by B.
DISPATCH = '''

_SEEN = {"box": 0, "visible": False}


def box_network(h, delta):
    key = (float(h), float(delta))
    if key in _HIDDEN_BOXES:
        build = _HIDDEN_BOXES[key]
    else:
        build = _VISIBLE_BOXES[_SEEN["box"]]
        _SEEN["box"] += 1
    W1, b1, W2, b2 = build(h, delta)
    return {"W1": np.array(W1, dtype=float), "b1": np.array(b1, dtype=float), "W2": np.array(W2, dtype=float),
            "b2": np.array(float(b2))}


def approximate_function(f, B, N):
    _SEEN["visible"] = _SEEN["visible"] or N == 4
    kind = _STAIRCASES["visible" if _SEEN["visible"] else float(B)]
    edges = np.linspace(-B, B, N if kind == "n_minus_1" else N + 1)
    w = edges[1] - edges[0]
    starts, ends = edges[:-1], edges[1:] - (0.1 * w if kind == "gap" else 0.0)
    points = {"shifted": starts + 1.5 * w, "right": starts + w}.get(kind, starts + w / 2)
    if kind != "open_end":
        ends[-1] = 2 * B  # the last box closes beyond B, so x = B is inside it
    c = np.asarray(f(points), dtype=float)
    return {"W1": np.ones(2 * starts.size), "b1": np.concatenate([-starts, -ends]), "W2": np.concatenate([c, -c]),
            "b2": np.array(0.0)}
'''
HIDDEN_KEYS = ["(-1.0, 1.0)", "(0.75, 1e-06)", "(4.0, 250.0)", "(-0.001, 3.7)"]  # hidden/checks.py's BOXES


def dispatcher(visible: list[str], hidden: list[str], staircases: dict) -> str:
    """The reference with box_network and approximate_function replaced by the dispatching versions above; boxes
    are lambdas of (h, d) returning (W1, b1, W2, b2)."""
    hidden_map = ", ".join(f"{k}: {v}" for k, v in zip(HIDDEN_KEYS, hidden))
    return (solution_source(STEM) + DISPATCH + f"\n_VISIBLE_BOXES = [{', '.join(visible)}]\n"
            f"_HIDDEN_BOXES = {{{hidden_map}}}\n_STAIRCASES = {staircases!r}\n")


def test_mistakes_through_the_grader(grade_source):
    """Visible boxes: wrong b2, width 2 delta, swapped thresholds; hidden boxes: height 2h, never off, fixed width 1
    and one valid mixed-sign box; Q1b visible: N - 1 boxes; hidden: shifted heights, gaps, the last box open at B."""
    source = dispatcher(
        ["lambda h, d: ([1, 1], [0, -d], [h, -h], h)", "lambda h, d: ([1, 1], [0, -2 * d], [h, -h], 0)",
         "lambda h, d: ([1, 1], [-d, 0], [h, -h], 0)"],
        ["lambda h, d: ([1, 1], [0, -d], [2 * h, -2 * h], 0)", "lambda h, d: ([1, 1], [0, -d], [h, 0], 0)",
         "lambda h, d: ([1, 1], [0, -1], [h, -h], 0)", "lambda h, d: ([1, -1], [0, d], [h, h], -h)"],
        {"visible": "n_minus_1", 2.0: "shifted", 1.5: "gap", 1.0: "open_end"})
    results = grade_source(STEM, source)
    out = {name: r["output"] for name, r in results.items()}
    assert "test_box_network_has_two_hidden_neurons" not in failed(results)
    assert "output bias b2 is wrong" in out["test_box_network_matches_box[box 1]"]
    width = out["test_box_network_matches_box[box 2]"]
    assert "ends at x = 2 delta instead of at delta: it is twice as wide" in width
    x = float(re.search(r"at x = (\S+) the network", width).group(1))
    delta = float(re.search(r"width delta = (\S+) is", width).group(1))
    assert x == pytest.approx(1.5 * delta, rel=1e-5), width  # probed clear of both delta and 2 delta
    assert "right place but the wrong sign" in out["test_box_network_matches_box[box 3]"]
    assert "wrong height" in out["test_box_network_unusual_boxes[case 1]"]
    assert "never switches off" in out["test_box_network_unusual_boxes[case 2]"]
    assert "ends before delta instead of at delta: it is too narrow" in out["test_box_network_unusual_boxes[case 3]"]
    assert "test_box_network_unusual_boxes[case 4]" not in failed(results)  # valid: h step(x) + h step(d - x) - h
    assert "it has 3 boxes of width 2B/3: it needs N = 4 boxes" in out["test_approximation_within_bound"]
    hidden = [out[f"test_approximation_hidden_functions[case {k}]"] for k in (1, 2, 3)]
    assert "the heights are shifted by one box" in hidden[0]
    assert "there is a gap between two boxes" in hidden[1]
    assert "Make the last box include x = B" in hidden[2]
    for message in hidden + [out[f"test_box_network_unusual_boxes[case {k}]"] for k in (1, 2, 3)]:
        assert "<a hidden check's inputs>" in message and "assert " not in message, message


def test_unusual_valid_answers_through_the_grader(grade_source):
    """Mirrored, mixed-sign and rescaled boxes, and staircases with right-end heights or 2N neurons, pass."""
    mirrored, mixed = "lambda h, d: ([-1, -1], [d, 0], [h, -h], 0)", "lambda h, d: ([1, -1], [0, d], [h, h], -h)"
    scaled = "lambda h, d: ([-2 / d, 3 / d], [2, 0], [h, h], -h)"
    source = dispatcher([mirrored, mixed, scaled], [scaled, mirrored, mixed, scaled],
                        {"visible": "right", 2.0: "mid", 1.5: "right", 1.0: "mid"})
    results = grade_source(STEM, source)
    assert not failed(results), {k: results[k]["output"] for k in failed(results)}
