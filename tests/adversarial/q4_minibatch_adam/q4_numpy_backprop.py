# @@include solutions/q4_numpy_backprop.py
# Attack (honour rule): train() uses minibatch Adam on shuffled data instead of per-sample SGD in dataset order. It
# trains well, but it is not the algorithm the question asks for.


def _batch_gradients(weights, biases, x, y):
    a1 = sigmoid(x @ weights[0] + biases[0])
    a2 = sigmoid(a1 @ weights[1] + biases[1])
    z3 = a2 @ weights[2] + biases[2]
    p = np.exp(z3 - z3.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    d3 = p
    d3[np.arange(len(y)), y] -= 1.0
    d3 /= len(y)
    d2 = (d3 @ weights[2].T) * a2 * (1 - a2)
    d1 = (d2 @ weights[1].T) * a1 * (1 - a1)
    return [x.T @ d1, a1.T @ d2, a2.T @ d3], [d1.sum(0), d2.sum(0), d3.sum(0)]


def train(x_train, y_train, epochs=3, learning_rate=LEARNING_RATE, rng=None, on_epoch_end=None):
    if rng is None:
        rng = np.random.default_rng(SEED)
    weights, biases = init_params(rng)
    params = weights + biases
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    t = 0
    for epoch in range(epochs):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), 32):
            rows = order[start:start + 32]
            gw, gb = _batch_gradients(weights, biases, x_train[rows], y_train[rows])
            t += 1
            for p, g, mi, vi in zip(params, gw + gb, m, v):
                mi *= 0.9
                mi += 0.1 * g
                vi *= 0.999
                vi += 0.001 * g * g
                p -= 1e-3 * (mi / (1 - 0.9 ** t)) / (np.sqrt(vi / (1 - 0.999 ** t)) + 1e-8)
        if on_epoch_end is not None:
            on_epoch_end(epoch, weights, biases)
    return weights, biases
