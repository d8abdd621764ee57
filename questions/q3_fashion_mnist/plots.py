"""Q3's plot for the feedback: training curves and three test predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.reporting.plots import guarded, pyplot

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


@guarded
def q3_training(path: Path, history: dict, x_test, y_test, probs, accuracy: float) -> None:
    """Training curves from the returned history and three test predictions from the grader's own evaluation."""
    plt = pyplot()
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
