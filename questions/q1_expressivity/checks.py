"""Visible checks for Q1: the box network (Q1a) and approximating a smooth function with boxes (Q1b)."""

import numpy as np
import pytest

from grader.checking.checklib import input_rng, published_inputs
from grader.running.runner import Call, Interp, StudentFailure
from questions.q1_expressivity.common import (
    STEM,
    approximation_error,
    check_box,
    check_staircase,
    error_bound,
    interp_grid,
    lipschitz,
    read_network,
)


def _inputs() -> tuple[list, float]:
    """The boxes (h, delta) and the half-width B: published in the student bundle, fresh for each grading run."""
    if published_inputs(STEM):
        return [(1.0, 1.0), (2.5, 0.5), (-3.0, 2.0)], float(np.pi)
    rng = input_rng(STEM, 1)
    boxes = [(round(sign * rng.uniform(0.5, 3.0), 3), round(rng.uniform(0.25, 3.0), 3)) for sign in (1, 1, -1)]
    return boxes, round(rng.uniform(2.0, 4.0), 3)


BOXES, B1 = _inputs()
F1 = np.sin
NS = (4, 8, 16, 32)

CALLS = [Call(f"box_{i}", "box_network", [h, d]) for i, (h, d) in enumerate(BOXES)]
CALLS += [Call(f"approx_sin_{n}", "approximate_function", [Interp(*interp_grid(F1, B1)), B1, n]) for n in NS]


@pytest.mark.check(part="q1a", points=1)
def test_box_network_has_two_hidden_neurons(student):
    """box_network returns a network with exactly two hidden step neurons and a linear output"""
    read_network(student.value("box_0"), student.describe("box_0"), exact_hidden=2)


@pytest.mark.check(part="q1a", points=3)
@pytest.mark.parametrize("i", range(len(BOXES)), ids=[f"box {i + 1}" for i in range(len(BOXES))])
def test_box_network_matches_box(student, i):
    """the box network is h on (0, delta) and 0 elsewhere (grader's own forward pass)"""
    h, d = BOXES[i]
    check_box(student.value(f"box_{i}"), h, d, seed=i, what=student.describe(f"box_{i}"))


@pytest.mark.check(part="q1b", points=2)
def test_approximation_within_bound(student, note, artifacts):
    """approximating sin on [-B, B] with N boxes stays within the error bound L*2B/N"""
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
        what = f"approximate_function(sin, B = {B1:.4g}, N = {n})"
        check_staircase(nets[n], F1, B1, n, what)
        bound = error_bound(L, B1, n)
        if not errors[n] <= bound * (1 + 1e-6):
            raise StudentFailure(
                f"{what}: the largest error on [-B, B] is {errors[n]:.4g}, above the bound L*2B/N = {bound:.4g} "
                f"(L = {L:.3g}).\nHint: each box should have width 2B/N, the boxes should tile [-B, B] without "
                f"gaps or overlaps, and each height should be f at a point of its box.")
