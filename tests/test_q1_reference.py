"""The reference solution of Question 1 (step-network expressivity) meets its own specification."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from nnkit.stubgen import strip_solutions
from solutions import q1_expressivity as q1

SOURCE = Path(q1.__file__)

BOXES = [  # (h, delta)
    (1.0, 1.0),
    (-2.5, 0.3),
    (3.0, 1e-6),
    (-0.7, 1e-6),
    (0.7, 1e6),
    (1e-3, 2.0),
]

SMOOTH = {  # name: (f, B, L) with L = max |f'| on [-B, B]
    "sin": (np.sin, np.pi, 1.0),
    "square": (np.square, 2.0, 4.0),
    "tanh3x": (lambda x: np.tanh(3.0 * x), 1.5, 3.0),
    "exp": (np.exp, 1.0, np.e),
    "gauss_bump": (lambda x: np.exp(-4.0 * x**2), 2.0, np.sqrt(8.0) * np.exp(-0.5)),
}


def expected_box(x, h, delta):
    """The documented output: h on [0, delta) (step(0) = 1 puts x = 0 inside and x = delta outside), 0 elsewhere."""
    return np.where((x >= 0) & (x < delta), h, 0.0)


def check_network_arrays(net, max_hidden):
    __tracebackhide__ = True
    assert set(net) == {"W1", "b1", "W2", "b2"}, f"expected exactly the keys W1, b1, W2, b2; got {sorted(net)}"
    k = np.shape(net["W1"])[0]
    for key in ("W1", "b1", "W2"):
        arr = net[key]
        assert isinstance(arr, np.ndarray) and arr.dtype == np.float64 and arr.shape == (k,), (
            f"{key} should be a float64 array of shape ({k},); got {type(arr).__name__} "
            f"{getattr(arr, 'dtype', '')} {np.shape(arr)}")
    b2 = net["b2"]
    assert isinstance(b2, np.ndarray) and b2.dtype == np.float64 and b2.shape == (), (
        f"b2 should be a float64 0-d array; got {type(b2).__name__} {np.shape(b2)}")
    assert k <= max_hidden, f"{k} hidden neurons, more than the {max_hidden} allowed"
    return k


def test_step_convention_is_on_at_zero():
    """step is 1 at s >= 0 (including exactly 0) and 0 below."""
    s = np.array([-1.0, -5e-324, 0.0, -0.0, 5e-324, 2.0])
    out = q1.step(s)
    assert out.dtype == np.float64 and out.shape == s.shape
    np.testing.assert_array_equal(out, [0, 0, 1, 1, 1, 1], err_msg="step(0) must be 1 (the kit's convention)")


def test_network_output_shape_follows_x():
    """network_output returns float64 with the shape of x (scalar, 1-D and 2-D inputs)."""
    net = q1.box_network(2.0, 1.0)
    assert q1.network_output(net, 0.5).shape == ()
    out = q1.network_output(net, np.zeros((3, 4), dtype=int) + 0.5)
    assert out.shape == (3, 4) and out.dtype == np.float64
    np.testing.assert_array_equal(out, 2.0)


@pytest.mark.parametrize("mutate, message", [
    (lambda net: net.pop("b2"), "missing 'b2'"),
    (lambda net: net.update(b1=np.zeros(3)), "b1 must have shape (2,)"),
    (lambda net: net.update(W1=np.ones((2, 1))), "W1 must have shape (k,)"),
    (lambda net: net.update(b2=np.zeros(1)), "b2 must be a scalar"),
])
def test_network_output_rejects_malformed_networks(mutate, message):
    """network_output names the key and the expected shape when a network is malformed."""
    net = q1.box_network(1.0, 1.0)
    mutate(net)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        q1.network_output(net, np.linspace(-1, 2, 5))


def test_network_output_accepts_float_b2():
    """A plain float b2 is accepted as the output bias."""
    net = dict(q1.box_network(1.0, 1.0), b2=0.5)
    np.testing.assert_array_equal(q1.network_output(net, [-1.0, 0.5]), [0.5, 1.5])


@pytest.mark.parametrize("h, delta", BOXES)
def test_box_network_has_two_float64_neurons(h, delta):
    """box_network returns exactly two hidden neurons as float64 arrays and a 0-d b2."""
    assert check_network_arrays(q1.box_network(h, delta), max_hidden=2) == 2


@pytest.mark.parametrize("h, delta", BOXES)
def test_box_network_truth_table_on_dense_grid(h, delta):
    """box_network is h inside (0, delta) and 0 outside on a dense grid, for any height and width."""
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(-2 * delta, 3 * delta, 20_001), rng.uniform(-delta, 2 * delta, 5_000),
                        [-1e9, -1.0, 1.0, 1e9]])
    out = q1.network_output(q1.box_network(h, delta), x)
    expected = expected_box(x, h, delta)
    bad = np.flatnonzero(out != expected)
    assert bad.size == 0, (f"box_network({h}, {delta}) is wrong at {bad.size} points, e.g. x = {x[bad[0]]!r}: "
                           f"got {out[bad[0]]!r}, expected {expected[bad[0]]!r}")


@pytest.mark.parametrize("h, delta", BOXES)
def test_box_network_boundaries_as_documented(h, delta):
    """Exactly at x = 0 the output is h and at x = delta it is 0 (step(0) = 1); one ulp away it is as inside/outside."""
    x = np.array([np.nextafter(0.0, -1.0), 0.0, np.nextafter(0.0, 1.0),
                  np.nextafter(delta, 0.0), delta, np.nextafter(delta, np.inf)])
    out = q1.network_output(q1.box_network(h, delta), x)
    np.testing.assert_array_equal(out, [0.0, h, h, h, 0.0, 0.0],
                                  err_msg=f"boundary values of box_network({h}, {delta}) at x = {x.tolist()}")


@pytest.mark.parametrize("delta", [0.0, -1.0, np.nan, np.inf])
def test_box_network_rejects_bad_width(delta):
    """A width that is not a finite positive number is a ValueError."""
    with pytest.raises(ValueError, match="delta"):
        q1.box_network(1.0, delta)


@pytest.mark.parametrize("name", SMOOTH)
@pytest.mark.parametrize("N", [1, 2, 3, 4, 10, 17, 64])
def test_approximate_function_error_within_bound(name, N):
    """The approximation error on [-B, B] (both ends and every box edge included) is at most L*B/N, the midpoint
    rule's, half of error_bound (L*2B/N, what any point of each box gives)."""
    f, B, L = SMOOTH[name]
    net = q1.approximate_function(f, B, N)
    check_network_arrays(net, max_hidden=2 * N)
    edges = np.linspace(-B, B, N + 1)
    x = np.concatenate([np.linspace(-B, B, 50_001), edges, np.nextafter(edges, -np.inf)[1:],
                        np.nextafter(edges, np.inf)[:-1]])
    err = np.abs(q1.network_output(net, x) - f(x))
    bound = q1.error_bound(L, B, N) / 2
    worst = int(np.argmax(err))
    # rounding in the telescoped sum is ~N * 1e-16 * max|f|; the margin below is far above it and far below the bound
    assert err[worst] <= bound * (1 + 1e-9) + 1e-12, (
        f"{name} with N = {N}: error {err[worst]:.6g} at x = {x[worst]!r} exceeds the bound L*B/N = {bound:.6g}")


@pytest.mark.parametrize("name", SMOOTH)
def test_approximate_function_error_halves_when_n_doubles(name):
    """Doubling the number of boxes roughly halves the maximum error (first-order convergence)."""
    f, B, _ = SMOOTH[name]
    Ns = [16, 32, 64, 128]
    errors = [q1.max_error(q1.approximate_function(f, B, N), f, B, points=100_001) for N in Ns]
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    # measured for these functions: ratios between 1.96 and 2.00
    assert np.all((ratios > 1.8) & (ratios < 2.2)), (
        f"{name}: errors {np.round(errors, 5).tolist()} for N = {Ns}; ratios {np.round(ratios, 3).tolist()} should "
        f"be close to 2")


def test_approximate_function_uses_the_midpoint_value():
    """For a linear f the error is exactly half a box width times the slope, the midpoint rule's worst case."""
    B, N, slope = 2.0, 8, 3.0

    def f(x):
        return slope * x + 1.0

    err = q1.max_error(q1.approximate_function(f, B, N), f, B, points=N * 1000 + 1)
    assert err == pytest.approx(slope * B / N, rel=1e-9), f"max error {err}, expected slope*B/N = {slope * B / N}"


def test_approximate_function_accepts_a_scalar_valued_f():
    """A vectorised f that returns a broadcastable scalar (a constant function) is approximated exactly."""
    net = q1.approximate_function(lambda x: 2.5, 1.0, 5)
    np.testing.assert_allclose(q1.network_output(net, np.linspace(-1, 1, 101)), 2.5, rtol=1e-15)


@pytest.mark.parametrize("B, N", [(0.0, 4), (-1.0, 4), (1.0, 0), (1.0, 2.5)])
def test_approximate_function_rejects_bad_arguments(B, N):
    """B must be positive and N a positive integer."""
    with pytest.raises(ValueError):
        q1.approximate_function(np.sin, B, N)


def test_main_writes_the_png(tmp_path):
    """python -m solutions.q1_expressivity --out PATH writes a PNG, creating the folder."""
    out = tmp_path / "figures" / "q1b.png"
    assert q1.main(["--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{out} is not a PNG"


def test_import_is_cheap_and_silent():
    """Importing the module does not import matplotlib or print anything."""
    code = "import sys, solutions.q1_expressivity; assert 'matplotlib' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout == "", result.stderr or result.stdout


def test_stub_imports_and_hides_the_solution():
    """The generated stub imports, keeps the provided helpers and raises NotImplementedError in student functions."""
    stub = strip_solutions(SOURCE.read_text(encoding="utf-8"), "solutions/q1_expressivity.py")
    assert "SOLUTION" not in stub
    module = types.ModuleType("q1_stub")
    exec(compile(stub, "assignments/q1_expressivity.py", "exec"), module.__dict__)
    assert module.step(0.0) == 1.0 and module.error_bound(2.0, 3.0, 4) == 3.0
    for call in (lambda: module.box_network(1.0, 1.0), lambda: module.approximate_function(np.sin, 1.0, 4)):
        with pytest.raises(NotImplementedError):
            call()
    for name in ("step", "network_output", "box_network", "approximate_function"):
        assert getattr(module, name).__doc__ == getattr(q1, name).__doc__, f"the docstring of {name} changed"
