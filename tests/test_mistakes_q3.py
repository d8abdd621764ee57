"""Q3's catalogue of known mistakes: each plausible mistake fails with a hint that names it (its words asserted), and
unusual but valid models pass.

A graded Q3 run imports TensorFlow (10-20 s), so each run carries several mistakes whose checks do not depend on each
other; the training runs crash at once or train one epoch."""

from conftest import failed, mutate, solution_source

STEM = "q3_fashion_mnist"
REF = solution_source(STEM)
BUILD_CHECKS = {"test_model_architecture", "test_model_parameter_count", "test_model_compile_settings"}
ARCH, PARAMS, COMPILE = "test_model_architecture", "test_model_parameter_count", "test_model_compile_settings"
TRAINED = "test_trained_model_test_accuracy"
CRASH = "calling train_model(build_model(), <training data>) failed"

LAYERS = REF[REF.index("    model = keras.Sequential(["):REF.index("    ])\n") + len("    ])\n")]  # the layer list
OPTIMIZER = "optimizer=keras.optimizers.Adam(learning_rate=1e-3)"
LOSS = 'loss="sparse_categorical_crossentropy"'
FIT = ("    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1,\n"
       "                        callbacks=[WarmupCosine()], verbose=2)\n")


def output(results: dict, name: str) -> str:
    assert results[name]["status"] == "failed", f"{name} should fail: {results[name]['output']}"
    return results[name]["output"]


FUNCTIONAL = '''    inputs = keras.Input(shape=(28, 28))
    h = keras.layers.Flatten()(inputs)
    for units in (256, 128, 64):
        h = keras.layers.Dense(units)(h)
        h = keras.layers.ReLU()(h)
        h = keras.layers.Dropout(rate=0.2)(h)
    outputs = keras.layers.Activation("softmax")(keras.layers.Dense(10)(h))
    model = keras.Model(inputs, outputs)
'''


def test_functional_model_with_activation_layers_passes(grade_source):
    """Unusual but valid: the functional API (its input layer is listed), Dropout(rate=0.2), ReLU and softmax as
    separate layers after linear Dense layers, and the optimizer by name."""
    source = mutate(REF, LAYERS, FUNCTIONAL)
    source = mutate(source, OPTIMIZER, 'optimizer="adam"')
    results = grade_source(STEM, source, hidden=False)
    assert not (failed(results) & BUILD_CHECKS), {k: results[k]["output"] for k in failed(results)}


def test_layer_sizes_activations_rates_and_compile_mistakes_are_named_per_layer(grade_source):
    source = mutate(REF, 'keras.layers.Dense(256, activation="relu")', 'keras.layers.Dense(512, activation="relu")')
    source = mutate(source, 'keras.layers.Dense(128, activation="relu"),\n        keras.layers.Dropout(0.2)',
                    'keras.layers.Dense(128, activation="sigmoid"),\n        keras.layers.Dropout(0.8)')
    source = mutate(source, 'keras.layers.Dense(64, activation="relu"),\n        keras.layers.Dropout(0.2)',
                    'keras.layers.Dense(64, activation="relu"),\n        keras.layers.Dropout(rate=0.5)')
    source = mutate(source, OPTIMIZER, "optimizer=keras.optimizers.Adam(learning_rate=1e-2)")
    source = mutate(source, LOSS, 'loss="binary_crossentropy"')
    results = grade_source(STEM, source, hidden=False)
    arch = output(results, ARCH)
    assert arch.startswith("4 layers differ from the specification:")
    assert "- layer 1: Dense(512, activation='relu') has 512 units instead of 256" in arch
    assert "- layer 3: Dense(128, activation='sigmoid') has activation 'sigmoid' instead of 'relu'" in arch
    assert "- layer 4: Dropout(0.8) has rate 0.8 instead of 0.2: the rate is the fraction of units dropped, not kept" in arch
    assert "- layer 6: Dropout(0.5) has rate 0.5 instead of 0.2" in arch
    assert "Hint: keras.layers.Dropout(0.2) drops 20% of the units" in arch
    params = output(results, PARAMS)
    assert "your model has 476,490 trainable parameters, expected 242,762" in params
    assert "Dense layer 1 has 401,920, expected 784 x 256 + 256 = 200,960" in params
    compiled = output(results, COMPILE)
    assert "expected learning rate 0.001, got 0.01: give keras.optimizers.Adam(learning_rate=1e-3)" in compiled
    assert "binary cross-entropy is for yes/no outputs, not one of ten classes" in compiled


def test_logits_output_with_one_hot_labels_crash_is_labelled_train_model(grade_source):
    """One training run that crashes at once: the output layer gives logits to a loss given by name (which expects
    probabilities), and train_model turns the labels into one-hot vectors for sparse_categorical_crossentropy."""
    source = mutate(REF, 'keras.layers.Dense(10, activation="softmax")', "keras.layers.Dense(10)")
    source = mutate(source, FIT, "    y_train = keras.utils.to_categorical(y_train, 10)\n" + FIT)
    results = grade_source(STEM, source, training=True, hidden=False)
    arch = output(results, ARCH)
    assert "layer 7: Dense(10, activation='linear') has activation 'linear' instead of 'softmax'" in arch
    assert "the output layer gives logits, while the loss 'sparse_categorical_crossentropy' expects probabilities" in arch
    assert "keep the loss's from_logits=False" in arch
    assert "test_model_parameter_count" not in failed(results)
    trained = output(results, TRAINED)
    assert trained.startswith(CRASH)  # the student's own function is named, not build_model
    assert "the labels reached the loss as one-hot vectors, but sparse_categorical_crossentropy takes integer" in trained
    assert results[TRAINED]["score"] == 0


def test_categorical_loss_with_integer_labels_is_named(grade_source):
    source = mutate(REF, LOSS, 'loss="categorical_crossentropy"')
    results = grade_source(STEM, source, training=True, hidden=False)
    assert not failed(results) & BUILD_CHECKS  # a valid loss for one-hot labels; these labels are integers
    trained = output(results, TRAINED)
    assert trained.startswith(CRASH)
    assert "categorical_crossentropy expects one-hot labels, and y_train holds integers 0..9" in trained


def test_too_few_epochs_is_named_and_from_logits_after_softmax_is_accepted(grade_source):
    """One epoch of training falls short of 87%, and the hint says how many epochs ran. from_logits=True after the
    softmax layer is not a mistake here: Keras's TensorFlow backend then takes the softmax's input as the logits."""
    source = mutate(REF, LOSS, "loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)")
    source = mutate(source, FIT, FIT.replace("epochs=epochs", "epochs=1"))
    results = grade_source(STEM, source, training=True, hidden=False)
    assert not failed(results) & BUILD_CHECKS
    trained = output(results, TRAINED)
    assert trained.splitlines()[0].startswith("test accuracy: ")
    assert results[TRAINED]["score"] < 6
    assert "train_model trained for 1 epoch: train for more epochs" in trained


def test_keras_2_learning_rate_keyword_crash_is_named(grade_source):
    source = mutate(REF, OPTIMIZER, "optimizer=keras.optimizers.Adam(lr=1e-3)")
    results = grade_source(STEM, source, hidden=False)
    assert failed(results) >= BUILD_CHECKS
    for name in BUILD_CHECKS:
        out = results[name]["output"]
        assert out.startswith("calling build_model() failed") and "Argument(s) not recognized" in out
        assert "Keras 3 names the optimizer's argument learning_rate" in out
