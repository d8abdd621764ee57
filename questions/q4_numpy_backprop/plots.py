"""Q4's plot for the feedback: test loss and accuracy after each epoch."""

from __future__ import annotations

from pathlib import Path

from grader.reporting.plots import guarded, pyplot


@guarded
def q4_training(path: Path, history: list, final: tuple, n_test: int) -> None:
    """Test loss and accuracy after each epoch of the student's training, evaluated by the grader."""
    plt = pyplot()
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
