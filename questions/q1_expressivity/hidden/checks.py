"""Unusual boxes and functions the student has not seen."""

import numpy as np
import pytest

from grader.running.runner import Call, Interp, StudentFailure
from questions.q1_expressivity.common import (
    approximation_error,
    check_box,
    check_staircase,
    error_bound,
    interp_grid,
    lipschitz,
    read_network,
)

BOXES = [(-1.0, 1.0), (0.75, 1e-6), (4.0, 250.0), (-0.001, 3.7)]


def bump(x):
    return np.exp(-x ** 2) * np.cos(3 * x)


def cubic(x):
    return 0.3 * x ** 3 - x


def steep(x):
    return np.tanh(4 * x) + 0.5


FUNCTIONS = {"bump": (bump, 2.0), "cubic": (cubic, 1.5), "steep": (steep, 1.0)}
NS = (8, 16, 32, 64)

CALLS = [Call(f"hbox_{i}", "box_network", [h, d]) for i, (h, d) in enumerate(BOXES)]
CALLS += [Call(f"happrox_{name}_{n}", "approximate_function", [Interp(*interp_grid(f, B)), B, n])
          for name, (f, B) in FUNCTIONS.items() for n in NS]


@pytest.mark.check(part="q1a", points=2, hidden=True)
@pytest.mark.parametrize("i", range(len(BOXES)), ids=[f"h={h:g} delta={d:g}" for h, d in BOXES])
def test_box_network_unusual_boxes(student, i):
    """the box network is right for negative heights, tiny and wide boxes"""
    h, d = BOXES[i]
    check_box(student.value(f"hbox_{i}"), h, d, seed=100 + i, what=student.describe(f"hbox_{i}"), reveal=False)


@pytest.mark.check(part="q1b", points=3, hidden=True)
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_approximation_hidden_functions(student, name):
    """unseen smooth functions are approximated within the bound and the error shrinks as N doubles"""
    f, B = FUNCTIONS[name]
    L = lipschitz(f, B)
    errors = {}
    for n in NS:
        call = f"happrox_{name}_{n}"
        what = student.describe(call)
        net = read_network(student.value(call), what, max_hidden=2 * n)
        check_staircase(net, f, B, n, what, reveal=False)
        errors[n] = approximation_error(net, f, B, seed=n)
        bound = error_bound(L, B, n)
        if not errors[n] <= bound * (1 + 1e-6):
            raise StudentFailure(
                f"{what}: approximating an unseen smooth function on an unseen interval [-B, B] with N boxes, the "
                f"largest error is {errors[n] / bound:.3g} times the bound L*2B/N.\nHint: does your construction "
                f"assume B = pi, f(0) = 0, or a function that is positive?")
    for n in NS[:-1]:
        # midpoint or endpoint heights both halve the error when N doubles; 0.75 leaves room for sampling.
        if not errors[2 * n] <= 0.75 * errors[n] + 1e-12:
            raise StudentFailure(
                f"doubling N did not shrink the error enough: it went down by a factor of "
                f"{errors[n] / max(errors[2 * n], 1e-300):.3g} (expected roughly 2).\nHint: the boxes should get "
                f"narrower as N grows: width 2B/N")
