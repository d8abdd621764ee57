"""Question 4: a 784-32-32-10 network trained from scratch with hand-written backpropagation, in numpy only.

Data. Images are flattened float64 rows of 784 pixels; labels are integer class indices 0-9. ``load_data`` rescales
pixels to [0, 1] by default; ``load_data(handout=True)`` keeps the raw 0-255 values, as the handout's loading code does.

Parameters. ``weights`` is a list of three float64 arrays of shapes (784, 32), (32, 32) and (32, 10), so that a layer
computes ``z = a @ W + b`` for a row of activations ``a``; ``biases`` is a list of three float64 arrays of shapes
(32,), (32,) and (10,). Both hidden layers use ``sigmoid``; the output layer uses ``softmax``; the loss of one image
is the cross-entropy ``-sum(y_one_hot * log(probabilities))``.

Training. Plain stochastic gradient descent, one image at a time, in dataset order, with learning rate 0.003: every
parameter ``p`` becomes ``p - gradient * learning_rate`` after each image. Weights start normal with mean 0 and
variance ``1 / max(n_in, n_out)`` (standard deviation ``1 / np.sqrt(max(n_in, n_out))``), drawn from
``np.random.default_rng(80085)`` in the order W1, W2, W3; biases start at zero. Three epochs take the test accuracy
from about 10% to well above 70%.

Run it (prints the test loss and accuracy after initialisation and after each of the 3 epochs):

    python -m solutions.q4_numpy_backprop            # pixels rescaled to [0, 1]
    python -m solutions.q4_numpy_backprop --handout  # raw 0-255 pixels, as in the handout

Each evaluation prints two lines, the average loss with two decimals and the number of correct test images with the
percentage to two decimals, for example:

    Average loss: 2.36
    Accuracy (# of correct guesses): 1028 / 10000 ( 10.28 %)
"""

from __future__ import annotations

import argparse

import numpy as np

LAYER_SIZES = (784, 32, 32, 10)
SEED = 80085
LEARNING_RATE = 0.003


def sigmoid(x):
    """Elementwise logistic function, numerically stable; inputs are clipped to [-500, 500] first."""
    x = np.clip(x, -500, 500)  # np.exp would overflow (with a warning) without this
    return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


def dsigmoid(x):
    """Derivative of ``sigmoid`` at ``x``: ``s * (1 - s)`` with ``s = sigmoid(x)``."""
    s = sigmoid(x)
    return s * (1 - s)


def softmax(x):
    """Softmax of ONE vector of logits (shape (k,)), shifted by its maximum for stability; sums over axis 0."""
    e_x = np.exp(x - np.max(x))
    return e_x / e_x.sum(axis=0)


def cross_entropy_loss(y, y_hat):
    """Cross-entropy ``-sum(y * log(y_hat))`` of a one-hot target ``y`` and predicted probabilities ``y_hat``."""
    return -np.sum(y * np.log(y_hat))


def integer_to_one_hot(x, max):
    """The one-hot float64 vector of length 10 with a 1 at index ``x`` (``max`` is kept from the handout; unused)."""
    one_hot = np.zeros(10)
    one_hot[x] = 1
    return one_hot


def load_data(handout=False):
    """MNIST as ``((x_train, y_train), (x_test, y_test))``.

    ``x_*`` are float64 arrays of shape (60000, 784) and (10000, 784): each 28x28 image flattened row by row, with
    pixels divided by 255.0 (values in [0, 1]), or left as raw 0-255 values if ``handout`` is true. ``y_*`` are int64
    labels 0-9 of shape (60000,) and (10000,).
    """
    from nnkit.data import load_mnist

    (x_train, y_train), (x_test, y_test) = load_mnist()

    def flatten(images):
        pixels = images.reshape(len(images), -1).astype(np.float64)
        return pixels if handout else pixels / 255.0

    return ((flatten(x_train), y_train.astype(np.int64)),
            (flatten(x_test), y_test.astype(np.int64)))


def init_params(rng, layer_sizes=LAYER_SIZES):
    """Initial ``(weights, biases)`` of the network, by default the 784-32-32-10 one.

    ``rng``: a ``np.random.Generator``; ``layer_sizes``: the four layer widths, default ``(784, 32, 32, 10)``.
    ``weights``: list of float64 arrays of shapes (784, 32), (32, 32), (32, 10) (in general (n_in, n_out) for each
    consecutive pair of layer sizes), each drawn with ``rng.normal(0, 1 / np.sqrt(max(n_in, n_out)), (n_in, n_out))``
    in the order W1, W2, W3. ``biases``: list of float64 zero arrays of shapes (32,), (32,), (10,) (in general
    (n_out,)).
    """
    # BEGIN SOLUTION
    pairs = list(zip(layer_sizes[:-1], layer_sizes[1:]))
    weights = [rng.normal(0, 1 / np.sqrt(max(n_in, n_out)), (n_in, n_out)) for n_in, n_out in pairs]
    biases = [np.zeros(n_out) for _, n_out in pairs]
    return weights, biases
    # END SOLUTION


def forward(weights, biases, x):
    """Class probabilities for a batch of images, computed for the whole batch at once (no loop over images).

    ``x``: float64 array of shape (n, 784). Returns a float64 array of shape (n, 10) whose rows are the softmax
    outputs of the network, each row summing to 1. Note that the provided ``softmax`` normalises one vector only.
    """
    # BEGIN SOLUTION
    a = x
    for w, b in zip(weights[:-1], biases[:-1]):
        a = sigmoid(a @ w + b)
    logits = a @ weights[-1] + biases[-1]
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
    # END SOLUTION


def backward(weights, biases, x, y):
    """Loss and gradients for ONE image.

    ``x``: float64 array of shape (784,); ``y``: its integer label. Returns ``(loss, weight_grads, bias_grads)``:
    ``loss`` is the cross-entropy (a float) of the network's prediction for ``x``; ``weight_grads`` and
    ``bias_grads`` are lists of float64 arrays with the shapes of ``weights`` and ``biases``, the derivatives of
    that loss with respect to each parameter. Nothing is modified.
    """
    # BEGIN SOLUTION
    target = integer_to_one_hot(y, 10)
    z1 = np.dot(x, weights[0]) + biases[0]
    a1 = sigmoid(z1)
    z2 = np.dot(a1, weights[1]) + biases[1]
    a2 = sigmoid(z2)
    probabilities = softmax(np.dot(a2, weights[2]) + biases[2])
    loss = float(cross_entropy_loss(target, probabilities))

    # dL/dz of each layer; sigmoid'(z) = a * (1 - a) equals dsigmoid(z) bit for bit and needs no second sigmoid.
    delta3 = probabilities - target
    delta2 = np.dot(delta3, weights[2].T) * (a2 * (1 - a2))
    delta1 = np.dot(delta2, weights[1].T) * (a1 * (1 - a1))
    weight_grads = [np.outer(x, delta1), np.outer(a1, delta2), np.outer(a2, delta3)]
    return loss, weight_grads, [delta1, delta2, delta3]
    # END SOLUTION


# BEGIN SOLUTION
def _sigmoid(z):
    """``sigmoid(z)`` bit for bit, in fewer numpy calls.

    For z >= 0 the handout computes 1 / (1 + exp(-z)) and otherwise exp(z) / (1 + exp(z)), both on z clipped to
    [-500, 500]; in both branches the exponential is exp(-min(|z|, 500)), so one exp serves both.
    """
    e = np.copysign(z, -1.0)  # -|z|
    np.maximum(e, -500.0, out=e)
    np.exp(e, out=e)
    numerator = np.where(z >= 0, 1.0, e)
    e += 1.0
    numerator /= e
    return numerator
# END SOLUTION


def train_one_sample(weights, biases, x, y, learning_rate=LEARNING_RATE):
    """One SGD step on ONE image, in place.

    ``x``: float64 array of shape (784,); ``y``: its integer label. Replaces every parameter ``p`` (the arrays in
    ``weights`` and ``biases``, updated in place) by ``p - gradient * learning_rate``, with the gradients of
    ``backward``, and returns the loss (a float) before the step.
    """
    # BEGIN SOLUTION
    # The same floating-point operations in the same order as backward() followed by the update, minus the work
    # whose result is known exactly: rows of W1 whose pixel is 0 get (0 * delta) * lr = 0 (delta1 is finite)
    # and are left alone.
    w1, w2, w3 = weights
    b1, b2, b3 = biases
    a1 = np.dot(x, w1)
    a1 += b1
    a1 = _sigmoid(a1)
    a2 = np.dot(a1, w2)
    a2 += b2
    a2 = _sigmoid(a2)
    z3 = np.dot(a2, w3)
    z3 += b3
    z3 -= np.maximum.reduce(z3)  # what np.max and ndarray.sum call, without their Python wrappers
    delta3 = np.exp(z3)
    delta3 /= np.add.reduce(delta3)
    loss = -float(np.log(delta3[y]))
    delta3[y] -= 1.0

    delta2 = np.dot(delta3, w3.T)
    delta2 *= a2 * (1 - a2)
    step = np.multiply.outer(a2, delta3)
    step *= learning_rate
    w3 -= step
    delta3 *= learning_rate
    b3 -= delta3

    delta1 = np.dot(delta2, w2.T)
    delta1 *= a1 * (1 - a1)
    step = np.multiply.outer(a1, delta2)
    step *= learning_rate
    w2 -= step
    delta2 *= learning_rate
    b2 -= delta2

    rows = x.nonzero()[0]
    step = np.multiply.outer(x[rows], delta1)
    step *= learning_rate
    w1[rows] -= step
    delta1 *= learning_rate
    b1 -= delta1
    return loss
    # END SOLUTION


def evaluate(weights, biases, x, y):
    """Average loss and number of correct predictions on a data set, in one vectorised pass (no loop over images).

    ``x``: float64 array of shape (n, 784); ``y``: int array of shape (n,). Returns ``(average_loss, n_correct)``:
    the mean cross-entropy over the n images (a float) and how many images have ``y`` as their most probable
    class (an int).
    """
    # BEGIN SOLUTION
    probabilities = forward(weights, biases, x)
    targets = np.zeros_like(probabilities)
    targets[np.arange(len(y)), y] = 1
    losses = -np.sum(targets * np.log(probabilities), axis=1)
    return float(np.average(losses)), int(np.count_nonzero(probabilities.argmax(axis=1) == y))
    # END SOLUTION


def train(x_train, y_train, epochs=3, learning_rate=LEARNING_RATE, rng=None, on_epoch_end=None):
    """Initialise the network with ``init_params(rng)`` and train it by per-image SGD in dataset order.

    ``x_train``: float64 array of shape (n, 784) (the grader mixes the pixels of every image by a secret rotation,
    the same for its test images); ``y_train``: int array of shape (n,). ``rng`` defaults to
    ``np.random.default_rng(80085)``. After each epoch, ``on_epoch_end(epoch, weights, biases)`` is called (if
    given) with ``epoch`` counting from 1: the grader replays each epoch from those parameters and credits the
    accuracy only for training it can replay. Returns the trained ``(weights, biases)``. train gets 10 CPU-minutes
    on the grading machine (CPU time, not wall time): a training still running then is stopped after the epoch
    that ends past it, and the parameters of the epochs reached are graded.
    """
    # BEGIN SOLUTION
    if rng is None:
        rng = np.random.default_rng(SEED)
    weights, biases = init_params(rng)
    for epoch in range(1, epochs + 1):
        for i in range(len(x_train)):
            train_one_sample(weights, biases, x_train[i], y_train[i], learning_rate)
        if on_epoch_end is not None:
            on_epoch_end(epoch, weights, biases)
    return weights, biases
    # END SOLUTION


def format_evaluation(average_loss, n_correct, n_total):
    """The two lines the handout prints for an evaluation."""
    return (f"Average loss: {average_loss:.2f}\n"
            f"Accuracy (# of correct guesses): {n_correct} / {n_total} ( {n_correct / n_total * 100:.2f} %)")


def main(argv=None):
    """Train for 3 epochs and print the test loss and accuracy after initialisation and after each epoch."""
    parser = argparse.ArgumentParser(description="Train the Q4 numpy network on MNIST.")
    parser.add_argument("--handout", action="store_true", help="use raw 0-255 pixels, as the handout does")
    args = parser.parse_args(argv)
    (x_train, y_train), (x_test, y_test) = load_data(handout=args.handout)

    def report(epoch, weights, biases):
        print(format_evaluation(*evaluate(weights, biases, x_test, y_test), len(y_test)), flush=True)

    report(0, *init_params(np.random.default_rng(SEED)))  # the same parameters train() starts from
    train(x_train, y_train, epochs=3, learning_rate=LEARNING_RATE, on_epoch_end=report)


if __name__ == "__main__":
    main()
