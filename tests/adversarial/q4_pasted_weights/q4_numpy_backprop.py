# @@include solutions/q4_numpy_backprop.py
# Attack: train() ignores its data and returns weights fitted elsewhere, on the original MNIST: they reach well above
# 70% on the real test images (the test measures that) but the grader mixes the inputs with a secret orthogonal
# matrix drawn for each run.
import base64 as _base64
import io as _io

_PASTED = "@@Q4_WEIGHTS@@"


def train(x_train, y_train, epochs=3, learning_rate=LEARNING_RATE, rng=None, on_epoch_end=None):
    saved = np.load(_io.BytesIO(_base64.b64decode(_PASTED)))
    weights = [saved[f"W{i}"].astype(np.float64) for i in (1, 2, 3)]
    biases = [saved[f"b{i}"].astype(np.float64) for i in (1, 2, 3)]
    for epoch in range(epochs):
        if on_epoch_end is not None:
            on_epoch_end(epoch, weights, biases)
    return weights, biases
