"""Plotting for the feedback: the one place that picks matplotlib's non-interactive backend.

The questions draw their own plots (``questions/<stem>/plots.py``) from the data their checks decoded; each asks this
module for pyplot.
"""

from __future__ import annotations


def pyplot():
    """matplotlib.pyplot with the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt
