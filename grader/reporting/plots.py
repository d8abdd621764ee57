"""Plotting for the feedback: the one place that picks matplotlib's non-interactive backend.

The questions draw their own plots (``questions/<stem>/plots.py``) from the data their checks decoded; each asks this
module for pyplot and wraps its drawing function in :func:`guarded`, so a plot of odd student data is left out of the
feedback with a note instead of failing the check or the run.
"""

from __future__ import annotations

import functools
import signal
import threading
from pathlib import Path

# A plot that takes longer than this (matplotlib on pathological data) is abandoned.
PLOT_SECONDS = 20


def pyplot():
    """matplotlib.pyplot with the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


class _PlotTimeout(Exception):
    pass


def guarded(draw):
    """``draw(path, ...)`` made safe: it returns "" when the plot was written, else a note for the student saying it
    was left out and why; it never raises and never leaves a partial file or an open figure behind. Drawing is
    abandoned after ``PLOT_SECONDS`` (when called from the main thread, where an alarm can interrupt it)."""
    @functools.wraps(draw)
    def safe(path: Path, *args, **kwargs) -> str:
        path = Path(path)
        alarm = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGALRM, _on_alarm) if alarm else None
        if alarm:
            signal.alarm(PLOT_SECONDS)
        try:
            draw(path, *args, **kwargs)
            return ""
        except Exception as exc:  # matplotlib raises assorted errors on extreme or odd data
            reason = (f"it took longer than {PLOT_SECONDS} s" if isinstance(exc, _PlotTimeout)
                      else f"{type(exc).__name__} while drawing it")
            path.unlink(missing_ok=True)
            return f"the plot {path.name} was left out of the feedback: {reason} (are the values extreme?)"
        finally:
            if alarm:
                signal.alarm(0)
                signal.signal(signal.SIGALRM, previous)
            try:
                pyplot().close("all")
            except Exception:
                pass
    return safe


def _on_alarm(signum, frame):
    raise _PlotTimeout()
