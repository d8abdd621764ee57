# @@include solutions/q4_numpy_backprop.py
# Attack: a lookup table of the student bundle's published check inputs. Every call is answered with what those
# inputs give (the expected values the bundle ships), whatever inputs the grader passes. The table is rebuilt here
# from the published seeds instead of being pasted as numbers; it holds the same values.


def _published():
    def params(seed):
        g = np.random.default_rng(seed)
        sizes = (784, 32, 32, 10)
        w = [g.normal(0, 1 / np.sqrt(max(sizes[i], sizes[i + 1])), (sizes[i], sizes[i + 1])) for i in range(3)]
        return w, [g.normal(0, 0.1, sizes[i + 1]) for i in range(3)]

    def image(seed):
        g = np.random.default_rng(seed)
        x = g.uniform(0, 1, 784)
        x[g.uniform(size=784) < 0.6] = 0.0
        return x
    w, b = params(4)
    return w, b, image(4), 7, np.stack([image(s) for s in range(40, 72)]), np.arange(32) % 10


_W, _B, _X, _Y, _XB, _YB = _published()
_forward, _backward, _evaluate, _step = forward, backward, evaluate, train_one_sample


def forward(weights, biases, x):
    return _forward(_W, _B, _XB) if np.shape(x) == _XB.shape else _forward(weights, biases, x)


def backward(weights, biases, x, y):
    return _backward(_W, _B, _X, _Y) if np.shape(x) == (784,) else _backward(weights, biases, x, y)


def evaluate(weights, biases, x, y):
    return _evaluate(_W, _B, _XB, _YB) if np.shape(x) == _XB.shape else _evaluate(weights, biases, x, y)


def train(*args, **kwargs):
    raise NotImplementedError("not part of this attack")  # keeps the corpus free of another training run
