# @@include solutions/q4_numpy_backprop.py
# Attack (honour rule): backward is central differences of the forward pass, no backpropagation at all. Its
# gradients are accurate enough for the gradient checks; it costs two forward passes per parameter.


def backward(weights, biases, x, y, h=1e-6):
    def loss():
        return float(-np.log(forward(weights, biases, x[None, :])[0, y]))
    grads = []
    for p in weights + biases:
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + h
            up = loss()
            p[idx] = old - h
            down = loss()
            p[idx] = old
            g[idx] = (up - down) / (2 * h)
        grads.append(g)
    return loss(), grads[:3], grads[3:]


def train(x_train, y_train, epochs=3, learning_rate=LEARNING_RATE, rng=None, on_epoch_end=None):
    raise NotImplementedError("left as the stub: this submission is about backward (and keeps the batch short)")
