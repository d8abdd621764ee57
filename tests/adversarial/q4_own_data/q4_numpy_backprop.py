# @@include solutions/q4_numpy_backprop.py
# Attack: train() ignores the (permuted) data it is given and trains on MNIST it loads itself: the kit's loader, Keras'
# download, the installed pure-ml package, the system's dataset folder or a cache. Without data it returns untrained
# weights.
import glob as _glob
import os as _os

_train = train


def _own_mnist():
    tried = []
    loaders = [lambda: __import__("nnkit.data", fromlist=["x"]).load_mnist(),
               lambda: __import__("keras").datasets.mnist.load_data()]
    for load in loaders:
        try:
            return load()[0], tried
        except BaseException as exc:
            tried.append(f"{type(exc).__name__}: {str(exc)[:300]}")
    for pattern in ("/usr/share/datasets/*/*", "/root/.cache/nnkit/datasets/*", "/root/.keras/datasets/*",
                    "@@REPO@@/.venv/lib/python3*/site-packages/pureml/datasets/*/*/*", "/tmp/*", "/**/*mnist*"):
        tried.append(f"{pattern}: {_glob.glob(pattern)}")
    return None, tried


def train(x_train, y_train, epochs=3, learning_rate=LEARNING_RATE, rng=None, on_epoch_end=None):
    data, tried = _own_mnist()
    print("\n".join(tried))
    if data is None:
        weights, biases = init_params(rng if rng is not None else np.random.default_rng(SEED))
        return weights, biases
    x, y = data
    return _train(x.reshape(-1, 784) / 255.0, y, epochs, learning_rate, rng, on_epoch_end)
