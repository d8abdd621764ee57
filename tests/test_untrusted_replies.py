"""What comes back from a sandboxed worker is untrusted: every malformed reply becomes a failed check with a message,
never an internal grader error, a crash or unbounded work in the trusted process. The checks must hold up to anything
an honest (if odd) submission can return."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from grader.intake import submission
from grader.running import protocol, runner, sandbox
from grader.running.runner import Call, StudentFailure


def _message(header: bytes, blobs: bytes = b"") -> bytes:
    return protocol.MAGIC + struct.pack("<Q", len(header)) + header + blobs


@pytest.mark.parametrize("header", [b"[" * 100_000 + b"]" * 100_000, b'{"a": ' + b"9" * 5000 + b"}",
                                    b'{"a": 123456789012345678901}', b'{"a": "\\ud800'],
                         ids=["deep", "long-int", "int-beyond-64-bits", "broken-string"])
def test_malformed_headers_are_protocol_errors(header):
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(_message(header))


def test_an_array_cannot_be_decoded_twice():
    one = protocol.encode(np.zeros(1000))
    blob = one[len(protocol.MAGIC) + 8 + struct.unpack_from("<Q", one, len(protocol.MAGIC))[0]:]
    twice = json.dumps([{"$npy": [0, len(blob)]}] * 2).encode()
    with pytest.raises(protocol.ProtocolError, match="overlap"):
        protocol.decode(_message(twice, blob))
    assert protocol.decode(protocol.encode([np.zeros(3), np.ones(2), {"x": np.arange(4)}]))[2]["x"].tolist() == [
        0, 1, 2, 3]


def test_integers_beyond_64_bits_are_refused_by_the_worker():
    sys.path.insert(0, str(ROOT / "grader" / "running"))
    try:
        import worker
    finally:
        sys.path.remove(str(ROOT / "grader" / "running"))
    assert worker.plain({"b2": 2 ** 63}) == {"b2": 2 ** 63}
    with pytest.raises(worker.ReturnTypeError, match="64 bits"):
        worker.plain({"b2": 10 ** 400})


CALL = Call("c", "f")
ARGS = Call("a", "f", return_args=[0])
SYMPY = Call("s", "f", task="sympy")
BUILD = Call("b", "f", task="keras_build")
TRAIN = Call("t", "f", task="keras_train")
EPOCHS = Call("q", "f", task="train_epochs")
SPEC = {"layers": [{"class": "Dense", "units": 10, "weights": [np.zeros((2, 10)), np.zeros(10)]}], "params": 30,
        "optimizer": "Adam", "learning_rate": 0.001, "loss": "x"}


@pytest.mark.parametrize("call, out", [
    (CALL, {"ok": True, "value": {"anything": [1, "two", None]}}),
    (CALL, {"ok": False, "error": "ValueError"}),
    (ARGS, {"ok": True, "value": 1, "args": [np.zeros(2)]}),
    (SYMPY, {"ok": True, "value": {"shape": [1, 2], "entries": [[["Symbol", "z0"], ["Mul", ["Integer", "-1"],
                                                                                      ["Rational", "1", "2"]]]]}}),
    (SYMPY, {"ok": True, "value": {"shape": [1, 1], "entries": [[["KroneckerDelta", ["Const", "pi"],
                                                                   ["Float", "0.5"]]]]}}),
    (BUILD, {"ok": True, "value": SPEC}),
    (TRAIN, {"ok": True, "value": {"spec": SPEC, "history": {"loss": [0.5, 0.25]}}}),
    (EPOCHS, {"ok": True, "value": {"result": [[], []], "epochs": [[0, [np.zeros(2)], [np.zeros(1)]]]}}),
])
def test_what_the_worker_writes_is_accepted(call, out):
    assert runner._malformed(out, call) == ""


@pytest.mark.parametrize("call, out", [
    (CALL, None), (CALL, []), (CALL, {"ok": "yes", "value": 1}), (CALL, {"ok": True}),
    (ARGS, {"ok": True, "value": 1}), (ARGS, {"ok": True, "value": 1, "args": []}),
    (SYMPY, {"ok": True, "value": {"shape": [2, 2]}}),
    (SYMPY, {"ok": True, "value": {"shape": [1, 1], "entries": [[["Symbol"]]]}}),
    (SYMPY, {"ok": True, "value": {"shape": [1, 1], "entries": [[["Integer", "x"]]]}}),
    (SYMPY, {"ok": True, "value": {"shape": [1, 1], "entries": [[["Rational", "1", "0"]]]}}),
    (SYMPY, {"ok": True, "value": {"shape": [1, 1], "entries": [[["Const", "X"]]]}}),
    (SYMPY, {"ok": True, "value": {"shape": [1, 1], "entries": [[["Symbol", ["z0"]]]]}}),
    (SYMPY, {"ok": True, "value": {"shape": [1, 1], "entries": [[[1]]]}}),
    (BUILD, {"ok": True, "value": None}), (BUILD, {"ok": True, "value": {}}),
    (BUILD, {"ok": True, "value": {**SPEC, "layers": ["Dense"]}}),
    (BUILD, {"ok": True, "value": {**SPEC, "learning_rate": "fast"}}),
    (TRAIN, {"ok": True, "value": {"spec": SPEC, "history": {"loss": ["low"]}}}),
    (EPOCHS, {"ok": True, "value": {"epochs": []}}),
    (EPOCHS, {"ok": True, "value": {"result": [], "epochs": [{"epoch": 0}]}}),
    (EPOCHS, {"ok": True, "value": {"result": [], "epochs": "all"}}),
    (Call("u", "f", task="no_such_kind"), {"ok": True, "value": 1}),
])
def test_malformed_results_are_caught_before_any_check(call, out):
    assert runner._malformed(out, call) != ""


def test_submission_ids_cannot_take_the_place_of_the_reports(tmp_path):
    for name in ("gradebook.csv", "junit.xml", "similarity.html", "alice"):
        (tmp_path / name).mkdir()
    found = submission.discover(tmp_path)
    assert [sid for sid, _ in found] == ["alice"]
    assert len(found.skipped) == 3


def test_too_deep_a_notebook_statement_is_a_question_error(tmp_path):
    import nbformat

    cell = nbformat.v4.new_code_cell("a = 1; b = " + " + ".join(["1"] * 2000))
    (tmp_path / "alice").mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), tmp_path / "alice" / "q1_expressivity.ipynb")
    prepared = submission.prepare(tmp_path / "alice", "alice", tmp_path / "work")
    assert "nested too deeply" in prepared.errors["q1_expressivity"]


@pytest.mark.skipif(not sandbox.bwrap_available(), reason="needs bubblewrap")
@pytest.mark.parametrize("code", ["import os; os.memfd_create('x')",
                                  "import ctypes; assert ctypes.CDLL(None).shmget(0, 4096, 0o1600) >= 0"])
def test_unaccounted_memory_cannot_be_allocated(code):
    result = sandbox.run_sandboxed([sys.executable, "-c", code], ro_binds={})
    assert result.returncode == 1, result
    assert "PermissionError" in result.stderr or "AssertionError" in result.stderr


class _Student:
    """Stands in for the plugin's Student: every call returned ``value``."""

    def __init__(self, value):
        self._value = value

    def value(self, call_id):
        return self._value

    args_after = value

    def describe(self, call_id):
        return call_id


def _fails_cleanly(check, value, **kwargs):
    with pytest.raises(AssertionError):  # StudentFailure is an AssertionError; anything else is an internal error
        check(_Student(value), **kwargs)


def test_q4_evaluate_check_survives_empty_results():
    from questions.q4_numpy_backprop.checks import test_evaluate

    _fails_cleanly(test_evaluate, [np.zeros(0), np.zeros(0)])


def test_q2_input_check_survives_a_reshaped_input():
    from questions.q2_softmax_jacobian.checks import test_jacobian_leaves_input_unchanged

    _fails_cleanly(test_jacobian_leaves_input_unchanged, [np.zeros((2, 5))])


def test_q3_forward_survives_a_scalar_kernel():
    from questions.q3_fashion_mnist.common import numpy_forward

    spec = {"layers": [{"class": "Dense", "activation": "softmax", "weights": [np.float64(1.0), np.zeros(10)]}]}
    with pytest.raises(StudentFailure):
        numpy_forward(spec, np.zeros((2, 28, 28)))


def test_symbolic_check_survives_wrong_arities():
    from questions.q2_softmax_jacobian.common import check_symbolic

    entries = [[["KroneckerDelta", ["Symbol", "z0"]]] * 2] * 2
    with pytest.raises(StudentFailure):
        check_symbolic({"shape": [2, 2], "entries": entries}, 2, "J", seed=0)


def test_symbolic_check_is_bounded():
    code = ("from questions.q2_softmax_jacobian.common import check_symbolic\n"
            "tower = ['Pow', ['Integer', '9'], ['Pow', ['Integer', '9'], ['Integer', '9']]]\n"
            "try:\n    check_symbolic({'shape': [2, 2], 'entries': [[tower] * 2] * 2}, 2, 'J', seed=0)\n"
            "except AssertionError:\n    pass\n")
    try:
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=10, check=True, capture_output=True)
    except subprocess.TimeoutExpired:
        pytest.fail("check_symbolic was still computing after 10 s")


@pytest.mark.parametrize("value", [{"ratio": "1", "seconds": 0.1, "baseline_seconds": 0.1},
                                   {"ratio": -1.0, "seconds": 0.1, "baseline_seconds": 0.1},
                                   {"ratio": 1.0, "seconds": 0.1}, [1.0, 2.0, 3.0], None])
def test_forged_cost_measurements_are_malformed(value):
    from grader.running import kinds

    assert kinds.CostRatio().problem({"ok": True, "value": value}, {}) != ""
    assert kinds.CostRatio().problem({"ok": True, "value": {"ratio": 2.5, "seconds": 1e-4,
                                                             "baseline_seconds": 4e-5}}, {}) == ""


def test_internal_errors_quote_no_source_line():
    from grader.checking.plugin import internal_error_text

    def check():
        raise ValueError("the grader's own message")  # SOURCE-LINE-MARKER
    try:
        check()
    except ValueError as exc:
        visible, hidden = internal_error_text(exc, hidden=False), internal_error_text(exc, hidden=True)
    assert "ValueError: the grader's own message" in visible and "in check" in visible
    assert "SOURCE-LINE-MARKER" not in visible and "raise" not in visible
    assert hidden == "ValueError in a hidden check"


def test_a_0d_array_comes_back_0d():
    """A returned scalar array stays a scalar, so messages can call it a number rather than shape (1,)."""
    value = protocol.decode(protocol.encode({"b2": np.array(0.5), "w": np.arange(3.0)}))
    assert value["b2"].shape == () and float(value["b2"]) == 0.5 and value["w"].shape == (3,)
