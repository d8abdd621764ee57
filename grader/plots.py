"""Plots for the feedback, drawn by the trusted side from the submission's returned data."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def q1b_approximation(path: Path, f, B: float, nets: dict, errors: dict) -> None:
    from grader.checks.q1_common import forward

    plt = _pyplot()
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


FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


def q3_training(path: Path, history: dict, x_test, y_test, probs, accuracy: float) -> None:
    """Training curves from the returned history and three test predictions from the grader's own evaluation."""
    plt = _pyplot()
    fig = plt.figure(figsize=(11, 6))
    grid = fig.add_gridspec(2, 3)
    for col, key in enumerate(("loss", "accuracy")):
        ax = fig.add_subplot(grid[0, col])
        for k in (key, f"val_{key}"):
            if history.get(k):
                ax.plot(range(1, len(history[k]) + 1), history[k], marker=".", label=k)
        ax.set_xlabel("epoch")
        ax.set_title(f"training {key} (your history)")
        ax.legend(fontsize=8)
    ax = fig.add_subplot(grid[0, 2])
    ax.axis("off")
    ax.text(0, 0.5, f"test accuracy\n(grader's evaluation)\n{accuracy:.2%}", fontsize=14)
    for col, i in enumerate((0, 1, 2)):
        ax = fig.add_subplot(grid[1, col])
        guess = int(np.argmax(probs[i]))
        ax.imshow(x_test[i], cmap="gray")
        ax.set_title(f"true: {FASHION_CLASSES[y_test[i]]}\npredicted: {FASHION_CLASSES[guess]} "
                     f"({probs[i, guess]:.0%})", fontsize=9, color="black" if guess == y_test[i] else "red")
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def q4_training(path: Path, history: list, final: tuple, n_test: int) -> None:
    """Test loss and accuracy after each epoch of the student's training, evaluated by the grader."""
    plt = _pyplot()
    points = history or [final]
    epochs = range(1, len(points) + 1)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    a1.plot(epochs, [p[0] for p in points], marker="o")
    a1.set_title("test loss after each epoch")
    a2.plot(epochs, [100 * p[1] / n_test for p in points], marker="o", color="tab:green")
    a2.axhline(70, color="gray", ls="--", lw=1)
    a2.set_title("test accuracy (%) after each epoch")
    for ax in (a1, a2):
        ax.set_xlabel("epoch")
        ax.set_xticks(list(epochs))
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
