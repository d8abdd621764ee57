# q4_numpy_backprop.py: your file to edit; replace each `raise NotImplementedError` (made by `make assignments`)
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

    python q4_numpy_backprop.py            # pixels rescaled to [0, 1]
    python q4_numpy_backprop.py --handout  # raw 0-255 pixels, as in the handout

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
    raise NotImplementedError


def forward(weights, biases, x):
    """Class probabilities for a batch of images, computed for the whole batch at once (no loop over images).

    ``x``: float64 array of shape (n, 784). Returns a float64 array of shape (n, 10) whose rows are the softmax
    outputs of the network, each row summing to 1. Note that the provided ``softmax`` normalises one vector only.
    """
    raise NotImplementedError


def backward(weights, biases, x, y):
    """Loss and gradients for ONE image.

    ``x``: float64 array of shape (784,); ``y``: its integer label. Returns ``(loss, weight_grads, bias_grads)``:
    ``loss`` is the cross-entropy (a float) of the network's prediction for ``x``; ``weight_grads`` and
    ``bias_grads`` are lists of float64 arrays with the shapes of ``weights`` and ``biases``, the derivatives of
    that loss with respect to each parameter. Nothing is modified.
    """
    raise NotImplementedError




def train_one_sample(weights, biases, x, y, learning_rate=LEARNING_RATE):
    """One SGD step on ONE image, in place.

    ``x``: float64 array of shape (784,); ``y``: its integer label. Replaces every parameter ``p`` (the arrays in
    ``weights`` and ``biases``, updated in place) by ``p - gradient * learning_rate``, with the gradients of
    ``backward``, and returns the loss (a float) before the step.
    """
    raise NotImplementedError


def evaluate(weights, biases, x, y):
    """Average loss and number of correct predictions on a data set, in one vectorised pass (no loop over images).

    ``x``: float64 array of shape (n, 784); ``y``: int array of shape (n,). Returns ``(average_loss, n_correct)``:
    the mean cross-entropy over the n images (a float) and how many images have ``y`` as their most probable
    class (an int).
    """
    raise NotImplementedError


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
    raise NotImplementedError


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
