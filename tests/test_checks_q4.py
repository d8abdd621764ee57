"""Q4 checks: correct answers (including unusual ones) pass; each plausible mistake fails with a pointed message."""

import pytest
from conftest import ROOT, failed, mutate, solution_source

STEM = "q4_numpy_backprop"
REF = solution_source(STEM)
GRADIENT_CHECKS = {f"test_backward_gradient[{n}]" for n in ("W1", "W2", "W3", "b1", "b2", "b3")}


def test_reference_passes_every_check(grade_source):
    results = grade_source(STEM, REF)
    assert not failed(results), {k: v["output"] for k, v in results.items() if v["status"] != "passed"}


def test_missing_sigmoid_derivative_is_named(grade_source):
    source = mutate(REF, "    delta2 = np.dot(delta3, weights[2].T) * (a2 * (1 - a2))\n",
                    "    delta2 = np.dot(delta3, weights[2].T)\n")
    source = mutate(source, "    delta1 = np.dot(delta2, weights[1].T) * (a1 * (1 - a1))\n",
                    "    delta1 = np.dot(delta2, weights[1].T)\n")
    results = grade_source(STEM, source)
    bad = failed(results)
    assert {"test_backward_gradient[W1]", "test_backward_gradient[W2]", "test_backward_gradient[b1]",
            "test_backward_gradient[b2]"} <= bad
    assert not {"test_backward_gradient[W3]", "test_backward_gradient[b3]"} & bad
    assert "without the sigmoid derivative" in results["test_backward_gradient[W2]"]["output"]


def test_fan_in_variance_fails_only_the_hidden_init_check(grade_source):
    source = mutate(REF, "weights = [rng.normal(0, 1 / np.sqrt(max(n_in, n_out)), (n_in, n_out))",
                    "weights = [rng.normal(0, 1 / np.sqrt(n_in), (n_in, n_out))")
    results = grade_source(STEM, source)
    assert failed(results) == {"test_init_variance_uses_max_fan"}
    assert "1/n_in" in results["test_init_variance_uses_max_fan"]["output"]


def test_std_passed_as_variance_fails_visible_init_check(grade_source):
    source = mutate(REF, "weights = [rng.normal(0, 1 / np.sqrt(max(n_in, n_out)), (n_in, n_out))",
                    "weights = [rng.normal(0, 1 / max(n_in, n_out), (n_in, n_out))")
    results = grade_source(STEM, source)
    assert "test_init_statistics" in failed(results)
    assert "standard deviation" in results["test_init_statistics"]["output"]


def test_batch_softmax_over_wrong_axis_fails_forward(grade_source):
    source = mutate(REF, "    e = np.exp(logits - logits.max(axis=-1, keepdims=True))\n"
                         "    return e / e.sum(axis=-1, keepdims=True)\n",
                    "    return softmax(logits)\n")
    results = grade_source(STEM, source)
    assert "test_forward_matches_reference" in failed(results)
    assert "softmax over each row" in results["test_forward_matches_reference"]["output"]


def test_sign_flipped_gradient_is_named(grade_source):
    source = mutate(REF, "    delta3 = probabilities - target\n", "    delta3 = target - probabilities\n")
    results = grade_source(STEM, source)
    assert GRADIENT_CHECKS <= failed(results)
    assert "sign is flipped" in results["test_backward_gradient[W3]"]["output"]


def test_update_that_is_not_in_place_fails_sgd_check(grade_source):
    source = mutate(REF, "    w3 -= step\n", "    w3 = w3 - step\n")
    results = grade_source(STEM, source)
    assert "test_sgd_step" in failed(results)
    assert "W3 after one step" in results["test_sgd_step"]["output"]


def test_loop_based_answers_pass(grade_source):
    """An unusual but valid evaluate: a per-sample loop instead of a vectorised pass."""
    start = REF.index("    probabilities = forward(weights, biases, x)\n    targets")
    end = REF.index("    # END SOLUTION", start)
    body = ("    total, correct = 0.0, 0\n"
            "    for i in range(len(x)):\n"
            "        p = forward(weights, biases, x[i:i + 1])[0]\n"
            "        total += -np.log(p[y[i]])\n"
            "        correct += int(np.argmax(p) == y[i])\n"
            "    return total / len(x), correct\n")
    results = grade_source(STEM, REF[:start] + body + REF[end:])
    assert not failed(results), {k: results[k]["output"] for k in failed(results)}


def test_stub_scores_zero(grade_source):
    results = grade_source(STEM, (ROOT / "assignments" / f"{STEM}.py").read_text())
    assert all(r["score"] == 0 for r in results.values())


@pytest.mark.slow
def test_training_check_passes_for_reference_and_fails_without_updates(grade_source):
    results = grade_source(STEM, REF, training=True)
    check = results["test_training_reaches_70_percent"]
    assert check["status"] == "passed" and "test accuracy after 3 epochs" in check["output"]
    lazy = mutate(REF, "            train_one_sample(weights, biases, x_train[i], y_train[i], learning_rate)\n",
                  "            pass\n")
    results = grade_source(STEM, lazy, training=True)
    check = results["test_training_reaches_70_percent"]
    assert check["status"] == "failed" and check["score"] == 0
    assert "applies every update" in check["output"]
