# q1_expressivity.py: your file to edit; replace each `raise NotImplementedError` (made by `make assignments`)
"""Question 1: what a network of step neurons can express.

A step network has one real input ``x``, ``k`` hidden neurons with the unit step activation and a linear output
neuron (a weighted sum plus a bias, no activation). It is a dict of float64 numpy arrays::

    {"W1": (k,), "b1": (k,), "W2": (k,), "b2": ()}

and computes ``y(x) = W2 . step(W1 * x + b1) + b2``: hidden neuron ``i`` fires when ``W1[i] * x + b1[i] >= 0`` and
then adds ``W2[i]`` to the output. ``b2`` is a 0-d float64 array (a plain float is accepted too).

Run ``python q1_expressivity.py [--out PATH]`` to plot the approximations of part (b).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

import numpy as np

NETWORK_KEYS = ("W1", "b1", "W2", "b2")
DEFAULT_FIGURE = Path("figures/out/q1b_approximation.png")


def step(s):
    """The unit step activation, elementwise.

    Args:
        s: array-like of any shape (or a scalar).

    Returns:
        float64 array of the shape of ``s``: ``1.0`` where ``s >= 0`` and ``0.0`` where ``s < 0``. The step is *on*
        at exactly ``s = 0`` (the kit's convention; some texts use ``step(0) = 0`` instead). NaN gives ``0.0``.
    """
    return np.where(np.asarray(s) >= 0, 1.0, 0.0)


def network_output(net, x):
    """Evaluate a step network at every point of ``x``.

    Args:
        net: a step network, a dict with float64 arrays ``"W1"``, ``"b1"``, ``"W2"`` of shape ``(k,)`` and a scalar
            ``"b2"`` (0-d array or float); see the module docstring.
        x: array-like of input points, any shape (or a scalar).

    Returns:
        float64 array of the shape of ``x`` holding ``W2 . step(W1 * x + b1) + b2`` at each point.

    Raises:
        ValueError: if a key is missing or the arrays do not have the shapes above.
    """
    if not isinstance(net, Mapping):
        raise ValueError(f"a step network is a dict with keys {', '.join(NETWORK_KEYS)}; got {type(net).__name__}")
    missing = [key for key in NETWORK_KEYS if key not in net]
    if missing:
        raise ValueError(f"the network is missing {', '.join(map(repr, missing))}: a step network needs the keys "
                         f"{', '.join(NETWORK_KEYS)} (it has {', '.join(map(repr, net)) or 'none'})")
    W1, b1, W2, b2 = (np.asarray(net[key], dtype=np.float64) for key in NETWORK_KEYS)
    if W1.ndim != 1:
        raise ValueError(f"W1 must have shape (k,) for k hidden neurons; got shape {W1.shape}")
    k = W1.shape[0]
    for name, arr in (("b1", b1), ("W2", W2)):
        if arr.shape != (k,):
            raise ValueError(f"{name} must have shape ({k},) like W1 (one entry per hidden neuron); got {arr.shape}")
    if b2.ndim != 0:
        raise ValueError(f"b2 must be a scalar (a 0-d array or a float); got shape {b2.shape}")
    x = np.asarray(x, dtype=np.float64)
    hidden = step(x[..., np.newaxis] * W1 + b1)
    return hidden @ W2 + b2


def error_bound(L, B, N):
    """The accuracy ``approximate_function`` must reach: ``L * 2B / N``, one box width times ``L``.

    Each box has width ``2B/N`` and a height that is ``f`` at some point of the box, so every ``x`` of the box is
    within ``2B/N`` of that point and ``|y(x) - f(x)| <= L * 2B/N``. (Heights at the midpoints halve it, ``L * B/N``:
    better, not required.)

    Args:
        L: a Lipschitz constant of ``f`` on ``[-B, B]`` (``|f(x) - f(x')| <= L |x - x'|``), ``>= 0``.
        B: half-length of the interval, ``> 0``.
        N: number of boxes, a positive int.

    Returns:
        float: ``L * 2 * B / N``, the largest allowed ``|y(x) - f(x)|`` on ``[-B, B]``.
    """
    return float(L) * 2.0 * float(B) / int(N)


def box_network(h, delta):
    """A step network with exactly two hidden neurons whose output is a box of height ``h`` and width ``delta``.

    Args:
        h: height of the box, a finite float (a negative height draws a dip).
        delta: width of the box, a finite float ``> 0`` (from tiny, e.g. ``1e-6``, to huge, e.g. ``1e6``).

    Returns:
        dict: a step network (module docstring) with ``"W1"``, ``"b1"``, ``"W2"`` float64 arrays of shape ``(2,)``
        and ``"b2"`` a float64 0-d array, whose output is ``h`` for ``0 < x < delta`` and ``0`` for ``x < 0`` and for
        ``x > delta``. Exactly at ``x = 0`` and at ``x = delta`` the output may be ``0`` or ``h``: which one depends
        on your weights and on the convention ``step(0) = 1``.

    Raises:
        ValueError: if ``h`` is not finite or ``delta`` is not a finite number ``> 0``.
    """
    raise NotImplementedError


def approximate_function(f, B, N):
    """A one-hidden-layer step network approximating ``f`` on ``[-B, B]`` by ``N`` boxes of width ``2B/N``.

    Split ``[-B, B]`` into exactly ``N`` boxes of equal width ``2B/N``, with edges ``-B + j * 2B/N`` for
    ``j = 0, ..., N``; on each box the network's output is a constant, ``f`` at a point of that box (its midpoint, or
    either end), so the output is a staircase that follows ``f``. The output changes value only at box edges (where
    two neighbouring heights are equal it need not change at all), and the boxes leave no gaps and do not overlap.

    Args:
        f: vectorised callable; ``f(x)`` for a float64 array ``x`` of shape ``(m,)`` returns ``m`` finite values.
        B: half-length of the interval, a finite float ``> 0``.
        N: number of boxes, a positive int.

    Returns:
        dict: a step network (module docstring) with at most ``2 * N`` hidden neurons (``"W1"``, ``"b1"``, ``"W2"``
        float64 arrays of shape ``(k,)`` with ``k <= 2 * N``, ``"b2"`` a float64 0-d array). If ``f`` is
        ``L``-Lipschitz on ``[-B, B]``, then ``|network_output(net, x) - f(x)| <= error_bound(L, B, N) = L * 2B/N``
        for every ``x`` in ``[-B, B]``, both ends included: with ``step(0) = 1`` a neuron that switches off exactly
        at ``B`` is already off at ``x = B``. Outside ``[-B, B]`` the output is not specified. The grader checks the
        number and edges of the boxes, each height, the ends ``x = -B`` and ``x = B``, and the bound.

    Raises:
        ValueError: if ``B`` or ``N`` is out of range or ``f`` does not return ``m`` finite values.
    """
    raise NotImplementedError


def demo_function(x):
    """The smooth function plotted by ``main``: a sine wave plus a Gaussian bump."""
    x = np.asarray(x, dtype=np.float64)
    return np.sin(2.0 * x) + 1.5 * np.exp(-4.0 * (x - 1.0) ** 2)


def demo_derivative(x):
    """The derivative of ``demo_function``."""
    x = np.asarray(x, dtype=np.float64)
    return 2.0 * np.cos(2.0 * x) - 12.0 * (x - 1.0) * np.exp(-4.0 * (x - 1.0) ** 2)


def max_error(net, f, B, points=60_001):
    """``max |network_output(net, x) - f(x)|`` over ``points`` evenly spaced ``x`` in ``[-B, B]`` (ends included)."""
    x = np.linspace(-B, B, points)
    return float(np.max(np.abs(network_output(net, x) - f(x))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Plot step-network approximations of a smooth function "
                                                 "(Question 1b) and their error against the bound L*2B/N.")
    parser.add_argument("--out", type=Path, default=DEFAULT_FIGURE,
                        help=f"where to write the PNG (default: {DEFAULT_FIGURE})")
    args = parser.parse_args(argv)

    from matplotlib.figure import Figure

    B = 3.0
    x = np.linspace(-B, B, 60_001)
    fx = demo_function(x)
    L = float(np.max(np.abs(demo_derivative(x))))

    fig = Figure(figsize=(13, 6.2), layout="constrained")
    axes = fig.subplot_mosaic([["N4", "N8", "err"], ["N16", "N32", "err"]], width_ratios=[1, 1, 1.15])
    for N in (4, 8, 16, 32):
        ax = axes[f"N{N}"]
        net = approximate_function(demo_function, B, N)
        bound = error_bound(L, B, N)
        ax.fill_between(x, fx - bound, fx + bound, color="0.85", label=r"$f \pm L \cdot 2B/N$")
        ax.plot(x, fx, color="black", lw=1.2, label="$f$")
        ax.plot(x, network_output(net, x), color="tab:blue", lw=1.6, label="network")
        ax.set_title(f"N = {N} boxes, {net['W1'].size} hidden neurons\n"
                     f"max error {max_error(net, demo_function, B):.3f}, bound {bound:.3f}", fontsize=10)
        ax.set_xlim(-B, B)
        ax.set_ylim(-3.2, 3.2)
        ax.grid(alpha=0.3)
    axes["N4"].legend(loc="lower left", fontsize=8)
    for key in ("N16", "N32"):
        axes[key].set_xlabel("$x$")

    Ns = 2 ** np.arange(1, 10)
    errors = [max_error(approximate_function(demo_function, B, int(N)), demo_function, B) for N in Ns]
    ax = axes["err"]
    ax.loglog(Ns, errors, "o-", color="tab:blue", ms=7, label="measured maximum error")
    ax.loglog(Ns, [error_bound(L, B, int(N)) for N in Ns], "--", color="tab:red", lw=2, label=r"bound $L \cdot 2B/N$")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("number of boxes $N$")
    ax.set_ylabel("maximum error on $[-B, B]$")
    ax.set_title(f"Measured error against the bound\nB = {B:g}, L = max |f'| = {L:.2f}", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=9)
    fig.suptitle(r"Step-network staircases for $f(x) = \sin 2x + 1.5\,e^{-4(x-1)^2}$ on $[-3, 3]$")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    for N, err in zip(Ns, errors):
        print(f"N = {N:3d}: max error {err:.4f}  bound {error_bound(L, B, int(N)):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
