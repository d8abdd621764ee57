"""Q1 checks: correct answers (including unusual ones) pass; each plausible mistake fails with a pointed message."""

import pytest
from conftest import ROOT, failed, mutate, solution_source

STEM = "q1_expressivity"
REF = solution_source(STEM)
BOX = '''    return {
        "W1": np.array([1.0, 1.0]),
        "b1": np.array([0.0, -delta]),
        "W2": np.array([h, -h]),
        "b2": np.array(0.0),
    }'''


def with_box(body: str) -> str:
    return mutate(REF, BOX, body)


def test_reference_passes_every_check(grade_source):
    results = grade_source(STEM, REF)
    assert not failed(results), {k: v["output"] for k, v in results.items() if v["status"] != "passed"}
    assert sum(r["score"] for r in results.values()) == pytest.approx(sum(r["points"] for r in results.values()))


@pytest.mark.parametrize("body", [
    # scaled weights: neurons switch at x/delta = 0 and x/delta = 1
    '    return {"W1": np.array([1 / delta, 1 / delta]), "b1": np.array([0.0, -1.0]), '
    '"W2": np.array([h, -h]), "b2": 0.0}',
    # neurons in the other order, plain lists
    '    return {"W1": [1.0, 1.0], "b1": [-delta, 0.0], "W2": [-h, h], "b2": 0}',
    # mirrored: step(delta - x) - step(-x)
    '    return {"W1": np.array([-1.0, -1.0]), "b1": np.array([delta, 0.0]), "W2": np.array([h, -h]), '
    '"b2": np.array(0.0)}',
    # an output bias: h - h step(-x) - h step(x - delta)
    '    return {"W1": np.array([-1.0, 1.0]), "b1": np.array([0.0, -delta]), "W2": np.array([-h, -h]), '
    '"b2": float(h)}',
], ids=["scaled", "reordered-lists", "mirrored", "output-bias"])
def test_unusual_valid_boxes_pass(grade_source, body):
    results = grade_source(STEM, with_box(body))
    box_checks = {k for k in results if "box" in k}
    assert not (failed(results) & box_checks), {k: results[k]["output"] for k in failed(results)}


def test_wrong_sign_fails_with_sign_hint(grade_source):
    results = grade_source(STEM, with_box(BOX.replace('np.array([h, -h])', 'np.array([-h, h])')))
    bad = failed(results)
    assert {"test_box_network_matches_box[box 1]", "test_box_network_unusual_boxes[case 1]"} <= bad
    assert "wrong sign" in results["test_box_network_matches_box[box 1]"]["output"]
    assert "test_box_network_has_two_hidden_neurons" not in bad


def test_box_that_never_switches_off_is_explained(grade_source):
    results = grade_source(STEM, with_box(BOX.replace('np.array([h, -h])', 'np.array([h, 0.0])')))
    assert "never switches off" in results["test_box_network_matches_box[box 1]"]["output"]


def test_three_neurons_fail_the_structure_check(grade_source):
    body = ('    return {"W1": np.array([1.0, 1.0, 0.0]), "b1": np.array([0.0, -delta, -1.0]), '
            '"W2": np.array([h, -h, 0.0]), "b2": 0.0}')
    results = grade_source(STEM, with_box(body))
    assert "exactly 2 hidden step neurons" in results["test_box_network_has_two_hidden_neurons"]["output"]


def test_left_endpoint_boxes_with_2n_neurons_pass(grade_source):
    """The plain construction from Q1a: N separate boxes, heights at left edges, 2N neurons; the last box closes
    beyond B, so x = B is inside it (with step(0) = 1 a neuron closing at B would be off there)."""
    body = '''    edges = np.linspace(-B, B, N + 1)
    heights = np.asarray(f(edges[:-1]), dtype=float)
    ends = edges[1:].copy()
    ends[-1] = 2 * B
    return {"W1": np.ones(2 * N), "b1": np.concatenate([-edges[:-1], -ends]),
            "W2": np.concatenate([heights, -heights]), "b2": 0.0}'''
    start = REF.index("    B = float(B)\n    if not (np.isfinite(B)")
    end = REF.index("    # END SOLUTION", start)
    results = grade_source(STEM, REF[:start] + body + "\n" + REF[end:])
    assert not failed(results), {k: results[k]["output"] for k in failed(results)}


def test_boxes_on_the_wrong_interval_fail(grade_source):
    source = mutate(REF, "edges = np.linspace(-B, B, N + 1)", "edges = np.linspace(0.0, B, N + 1)")
    results = grade_source(STEM, source)
    assert "test_approximation_within_bound" in failed(results)
    assert "the N boxes should tile all of [-B, B]" in results["test_approximation_within_bound"]["output"]


def test_too_many_neurons_fail_the_size_limit(grade_source):
    source = mutate(REF, '"W1": np.append(np.ones(N), -1.0),', '"W1": np.append(np.ones(N), -1.0).repeat(3),')
    source = mutate(source, '"b1": np.append(-edges[:-1], B),', '"b1": np.append(-edges[:-1], B).repeat(3),')
    source = mutate(source, '"W2": np.append(np.diff(values, prepend=0.0), last),',
                    '"W2": np.append(np.diff(values, prepend=0.0), last).repeat(3) / 3,')
    results = grade_source(STEM, source)
    assert "at most 8 are allowed" in results["test_approximation_within_bound"]["output"]


def test_stub_scores_zero_with_stub_message(grade_source):
    results = grade_source(STEM, (ROOT / "assignments" / f"{STEM}.py").read_text())
    assert all(r["score"] == 0 for r in results.values())
    assert "still the stub" in results["test_box_network_has_two_hidden_neurons"]["output"]
