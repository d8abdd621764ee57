# @@include solutions/q4_numpy_backprop.py
# Attack (honour rule): backward by the complex-step method (the imaginary part of the loss at a parameter nudged by
# i*h): exact to rounding, and vectorised where it costs most (all of W1's nudges in one batched pass through the
# layers after the first), but no backpropagation.


def backward(weights, biases, x, y, h=1e-30):
    def loss(z1, params):  # z1: (k, 32) complex pre-activations of the first layer; one loss per row
        a = 1 / (1 + np.exp(-z1))
        a = 1 / (1 + np.exp(-(a @ params[1] + params[4])))
        z = a @ params[2] + params[5]
        z = z - z.real.max(axis=1, keepdims=True)
        return -(z[:, y] - np.log(np.exp(z).sum(axis=1)))
    params = [p.astype(complex) for p in weights + biases]
    z1 = x @ params[0] + params[3]
    n_in, n_h = weights[0].shape
    nudged = np.repeat(z1[None, :], n_in * n_h + n_h, axis=0)
    rows = np.arange(n_in * n_h)
    nudged[rows, rows % n_h] += 1j * h * np.repeat(x, n_h)  # W1[i, j] moves z1[j] by x[i]
    nudged[n_in * n_h + np.arange(n_h), np.arange(n_h)] += 1j * h  # b1[j] moves z1[j]
    first = loss(nudged, params).imag / h
    grads = [first[:n_in * n_h].reshape(n_in, n_h), None, None, first[n_in * n_h:], None, None]
    for k in (1, 2, 4, 5):  # the smaller layers one entry at a time
        g = np.zeros(weights[k].shape if k < 3 else biases[k - 3].shape)
        for idx in np.ndindex(g.shape):
            old = params[k][idx]
            params[k][idx] = old + 1j * h
            g[idx] = loss(z1[None, :], params)[0].imag / h
            params[k][idx] = old
        grads[k] = g
    return float(loss(z1[None, :], params)[0].real), grads[:3], grads[3:]


def train(x_train, y_train, epochs=3, learning_rate=LEARNING_RATE, rng=None, on_epoch_end=None):
    raise NotImplementedError("left as the stub: this submission is about backward (and keeps the batch short)")
