"""Q1b's plot for the feedback: f and the student's step-network approximations."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.reporting.plots import guarded, pyplot
from questions.q1_expressivity.common import forward


@guarded
def q1b_approximation(path: Path, f, B: float, nets: dict, errors: dict) -> None:
    plt = pyplot()
    x = np.linspace(-B, B, 2001)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, f(x), color="black", lw=2, label="f")
    for n, net in nets.items():
        ax.plot(x, forward(net, x, 1.0), lw=1, label=f"N = {n} (max error {errors[n]:.3f})")
    ax.set_title("Your approximate_function: f and its step-network approximations")
    ax.set_xlabel("x")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
