"""Visible checks for Q1: the box network (Q1a) and approximating a smooth function with boxes (Q1b)."""

import numpy as np
import pytest

from grader.running.runner import Call, Interp
from questions.q1_expressivity.common import approximation_error, check_box, interp_grid, lipschitz, read_network

BOXES = [(1.0, 1.0), (2.5, 0.5), (-3.0, 2.0)]
B1, F1 = np.pi, np.sin
NS = (4, 8, 16, 32)

CALLS = [Call(f"box_{i}", "box_network", [h, d]) for i, (h, d) in enumerate(BOXES)]
CALLS += [Call(f"approx_sin_{n}", "approximate_function", [Interp(*interp_grid(F1, B1)), B1, n]) for n in NS]


@pytest.mark.check(part="q1a", points=1)
def test_box_network_has_two_hidden_neurons(student):
    """box_network returns a network with exactly two hidden step neurons and a linear output"""
    read_network(student.value("box_0"), student.describe("box_0"), exact_hidden=2)


@pytest.mark.check(part="q1a", points=3)
@pytest.mark.parametrize("i", range(len(BOXES)), ids=[f"h={h:g} delta={d:g}" for h, d in BOXES])
def test_box_network_matches_box(student, i):
    """the box network is h on (0, delta) and 0 elsewhere (grader's own forward pass)"""
    h, d = BOXES[i]
    check_box(student.value(f"box_{i}"), h, d, seed=i, what=student.describe(f"box_{i}"))


@pytest.mark.check(part="q1b", points=2)
def test_approximation_within_bound(student, note, artifacts):
    """approximating sin on [-pi, pi] with N boxes stays within the error bound L*2B/N"""
    L = lipschitz(F1, B1)
    nets, errors = {}, {}
    for n in NS:
        call = f"approx_sin_{n}"
        nets[n] = read_network(student.value(call), student.describe(call), max_hidden=2 * n)
        errors[n] = approximation_error(nets[n], F1, B1)
    if artifacts is not None:
        from questions.q1_expressivity import plots
        note(plots.q1b_approximation(artifacts / "q1b.png", F1, B1, nets, errors))
    for n in NS:
        bound = L * 2 * B1 / n
        assert errors[n] <= bound * (1 + 1e-6), (
            f"with N = {n} boxes the largest error on [-pi, pi] is {errors[n]:.4g}, above the bound "
            f"L*2B/N = {bound:.4g} (L = {L:.3g}).\nHint: each box should have width 2B/N, the boxes should tile "
            f"[-B, B] without gaps or overlaps, and each height should be f at a point inside its box.")
