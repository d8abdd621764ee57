"""Q3 checks: the specified model passes (in either loss spelling); each plausible mistake fails with a message."""

import pytest
from conftest import ROOT, failed, mutate, solution_source

STEM = "q3_fashion_mnist"
REF = solution_source(STEM)
BUILD_CHECKS = {"test_model_architecture", "test_model_parameter_count", "test_model_compile_settings"}


def test_reference_passes_the_model_checks(grade_source):
    results = grade_source(STEM, REF)
    assert not failed(results), {k: v["output"] for k, v in results.items() if v["status"] == "failed"}


def test_categorical_loss_and_string_optimizer_are_accepted(grade_source):
    source = mutate(REF, "    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),\n"
                         "                  loss=\"sparse_categorical_crossentropy\",",
                    "    model.compile(optimizer=\"adam\",\n                  loss=keras.losses.SparseCategoricalCrossentropy(),")
    results = grade_source(STEM, source)
    assert not (failed(results) & BUILD_CHECKS), {k: results[k]["output"] for k in failed(results)}


def test_missing_dropout_is_named(grade_source):
    source = mutate(REF, "        keras.layers.Dense(128, activation=\"relu\"),\n        keras.layers.Dropout(0.2),\n",
                    "        keras.layers.Dense(128, activation=\"relu\"),\n")
    results = grade_source(STEM, source)
    out = results["test_model_architecture"]["output"]
    assert "layer 4 should be Dropout(0.2), but your model has Dense(64, activation='relu')" in out
    assert "Hint: missing Dropout (specification's layer 4)" in out
    assert "test_model_parameter_count" not in failed(results)


def test_wrong_width_fails_architecture_and_parameter_count(grade_source):
    source = mutate(REF, 'keras.layers.Dense(256, activation="relu")', 'keras.layers.Dense(512, activation="relu")')
    results = grade_source(STEM, source)
    assert {"test_model_architecture", "test_model_parameter_count"} <= failed(results)
    assert "expected 242,762" in results["test_model_parameter_count"]["output"]


@pytest.mark.parametrize("old, new, message", [
    ("keras.optimizers.Adam(learning_rate=1e-3)", "keras.optimizers.Adam(learning_rate=1e-2)",
     "expected learning rate 0.001"),
    ("keras.optimizers.Adam(learning_rate=1e-3)", "keras.optimizers.SGD(learning_rate=1e-3)",
     "expected the Adam optimizer"),
    ('loss="sparse_categorical_crossentropy"', 'loss="mse"', "expected a cross-entropy loss"),
])
def test_compile_mistakes_are_named(grade_source, old, new, message):
    results = grade_source(STEM, mutate(REF, old, new))
    assert failed(results) & BUILD_CHECKS == {"test_model_compile_settings"}
    assert message in results["test_model_compile_settings"]["output"]


def test_stub_scores_zero(grade_source):
    results = grade_source(STEM, (ROOT / "assignments" / f"{STEM}.py").read_text())
    assert all(r["score"] == 0 for r in results.values())
