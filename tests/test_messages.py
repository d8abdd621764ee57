"""Messages a student reads: within the budget, hint whole, arguments described, no pytest or Python internals."""

import ast

import numpy as np
import pytest
from conftest import ROOT

from grader.checking.messages import HINT, MESSAGE_CHARS, at_level, describe_value, fit, machinery
from grader.running.runner import Call, Rng


def test_a_long_message_keeps_its_first_line_and_whole_hint():
    message = "forward gives wrong probabilities: expected 0.1, got 0.2\n" + "data line\n" * 2000 + \
        "ValueError: shapes do not match" + HINT + "sigmoid on both hidden layers, softmax over each row"
    short = fit(message)
    assert len(short) <= MESSAGE_CHARS
    assert short.startswith("forward gives wrong probabilities: expected 0.1, got 0.2\n")
    assert short.endswith(HINT + "sigmoid on both hidden layers, softmax over each row")
    assert "characters left out" in short and "ValueError: shapes do not match" in short
    assert fit("short") == "short"


def test_a_huge_first_line_or_hint_is_still_bounded():
    assert len(fit("x" * 100_000)) <= MESSAGE_CHARS
    assert len(fit("x" * 100_000 + HINT + "y" * 100_000)) <= MESSAGE_CHARS


def test_arguments_are_described_not_dumped():
    w = [np.random.default_rng(0).normal(size=s) for s in ((784, 32), (32, 32), (32, 10))]
    call = Call("forward", "forward", [w, [np.zeros(32), np.zeros(32), np.zeros(10)], np.ones((32, 784))])
    text = call.describe()
    assert len(text) < 200 and not machinery(text), text
    assert text.startswith("forward([3 float64 arrays (784, 32), (32, 32), (32, 10)], [3 float64 arrays (32,), ")
    assert "<float64 array (32, 784), values 1 to 1>" in text
    assert Call("i", "init_params", [Rng(5)]).describe() == "init_params(np.random.default_rng(5))"
    assert describe_value(np.float64(0.5)) == "0.5" and describe_value(np.array(3.0)) == "3"
    assert describe_value(10 ** 400) == "<an integer of 401 digits>"
    keras = Call("train", "build_model", task="keras_train", args=lambda: [], extra={"train_function": "train_model"})
    assert keras.describe() == "train_model(build_model(), <training data>)"


@pytest.mark.parametrize("text, kind", [
    ("assert 0.8191 >= 0.88\n +  where 0.8191 = acc", "pytest's assertion rewriting"),
    ("got <function f at 0x7f3a2b4c5d60>", "an object's memory address"),
    ("got <function f at 0x7f3a2b4c5d60>", "a function's repr"),
    ("expected array([0.1, 0.2])", "a raw numpy repr"),
    ("J = [[ 0.25 -0.25]\n [-0.25  0.25]]", "a raw numpy repr"),
])
def test_machinery_is_recognised(text, kind):
    assert kind in machinery(text)


def test_written_messages_are_not_machinery():
    for text in ("W1 has variance 0.002; expected 1/max(784, 32) = 0.00128.\nHint: rng.normal takes the std",
                 "gradient of W2: 3 of 1024 entries are off. Worst at index (3, 4): expected 0.25, got -0.25",
                 "train() on 20 images for 2 epochs: where it matters, the assertion holds"):
        assert machinery(text) == [], text


def test_every_assert_in_a_check_says_what_went_wrong():
    """Checks run with --assert=plain, so an assert without a message would tell the student nothing."""
    bare = []
    for path in sorted((ROOT / "questions").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assert) and node.msg is None:
                bare.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert bare == []


def test_pytest_runs_the_checks_without_assertion_rewriting():
    ini = (ROOT / "grader" / "checking" / "pytest.ini").read_text(encoding="utf-8")
    assert "--assert=plain" in ini


def test_hint_levels_drop_or_keep_hints_and_details():
    text = "J is off: 3 of 4 entries.\nDetail: the worst entries: (0, 1)\nHint: the matrix looks transposed"
    assert at_level(text, "hint") == "J is off: 3 of 4 entries.\nHint: the matrix looks transposed"
    assert at_level(text, "none") == "J is off: 3 of 4 entries."
    assert at_level(text, "full") == text


def test_a_bad_hint_level_is_refused(tmp_path):
    from grader import registry

    folder = tmp_path / "q9_x"
    folder.mkdir()
    (folder / "question.toml").write_text('label = "q9"\ntitle = "x"\nhints = "all"\n', encoding="utf-8")
    with pytest.raises(registry.RegistryError, match="hints must be one of none, hint, full"):
        registry._load(folder)


def test_the_instructor_turns_hints_down_or_up_for_a_run(grade_source, monkeypatch):
    from conftest import mutate, solution_source

    wrong = mutate(solution_source("q2_softmax_jacobian"), "return np.diag(y) - np.outer(y, y)",
                   "return np.diag(y) - np.outer(y, y).T * 0.5")
    name = "test_jacobian_matches_central_differences"
    for level, hint, detail in (("none", False, False), ("hint", True, False), ("full", True, True)):
        monkeypatch.setenv("NNKIT_HINTS", f"q2={level}")
        output = grade_source("q2_softmax_jacobian", wrong, hidden=False)[name]["output"]
        assert ("\nHint: " in output) == hint and ("\nDetail: " in output) == detail, (level, output)
