"""Visible checks use fresh inputs when grading: the values the student bundle ships are worth nothing as a lookup."""

import json
import subprocess
import sys

from conftest import ROOT, failed, run_checks
from test_adversarial import materialize

from grader.checking.checklib import PUBLISHED_INPUTS_ENV

LOOKUP = "lookup_published_values"
# the checks a lookup table of the published inputs answers
ANSWERED = {
    "q2_softmax_jacobian": {"test_softmax_values", "test_jacobian_matches_central_differences"},
    "q4_numpy_backprop": {"test_forward_matches_reference", "test_evaluate"}
    | {f"test_backward_gradient[{name}]" for name in ("W1", "W2", "W3", "b1", "b2", "b3")},
}


def _visible_inputs(env: dict) -> str:
    code = ("import json; from questions.q2_softmax_jacobian import checks as c2; "
            "from questions.q1_expressivity import checks as c1; from questions.q4_numpy_backprop import checks as c4; "
            "print(json.dumps([[z.tolist() for z in c2.ZS], c1.BOXES, c1.B1, c4.X.tolist(), c4.Y]))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                          env=env).stdout


def test_inputs_are_fresh_for_each_run_and_published_in_the_bundle(monkeypatch):
    import os

    grading = {k: v for k, v in os.environ.items() if k != PUBLISHED_INPUTS_ENV}
    first, second = _visible_inputs(grading), _visible_inputs(grading)
    assert first != second
    published = _visible_inputs(grading | {PUBLISHED_INPUTS_ENV: "1"})
    assert published == _visible_inputs(grading | {PUBLISHED_INPUTS_ENV: "1"})
    zs, boxes, b, x, y = json.loads(published)
    assert boxes == [[1.0, 1.0], [2.5, 0.5], [-3.0, 2.0]] and abs(b - 3.14159265) < 1e-6 and y == 7
    assert [len(z) for z in zs] == [2, 3, 5, 10]
    fresh = json.loads(first)
    assert [len(z) for z in fresh[0]] == [2, 3, 5, 10] and len(fresh[3]) == 784  # same shapes, other numbers


def test_a_lookup_of_the_published_values_earns_nothing_at_grading(tmp_path, monkeypatch):
    subs = tmp_path / "subs"
    materialize(subs, {}, [LOOKUP])
    sub = subs / LOOKUP
    for stem, answered in ANSWERED.items():
        # the attack is real: with the published inputs (the student's own local check) the lookup passes
        monkeypatch.setenv(PUBLISHED_INPUTS_ENV, "1")
        (tmp_path / f"pub-{stem}").mkdir()
        published = run_checks(sub, [stem], tmp_path / f"pub-{stem}", hidden=False)
        assert not failed(published) & answered, failed(published)
        monkeypatch.delenv(PUBLISHED_INPUTS_ENV)
        (tmp_path / f"grade-{stem}").mkdir()
        graded = run_checks(sub, [stem], tmp_path / f"grade-{stem}", hidden=False)
        assert answered <= failed(graded), answered - failed(graded)
