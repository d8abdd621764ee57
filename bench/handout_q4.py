"""Q4 done the way the handout lays it out: one sample at a time, in plain numpy, for timing the reference against.

Nothing here is tuned. Every sample is flattened from its 28x28 image, pushed through the 784-32-32-10 sigmoid
network with the handout's helpers, back-propagated with ``dsigmoid`` evaluated afresh on the pre-activations, and
applied with full ``np.outer`` gradients for all three layers; the test set is evaluated one sample at a time too.
The reference (``solutions/q4_numpy_backprop.py``) must print exactly the same numbers, in both input modes:

    python bench/handout_q4.py             # pixels rescaled to [0, 1]
    python bench/handout_q4.py --handout   # raw 0-255 pixels, as the handout's loading code leaves them

``--train-limit N`` trains on the first N training images only and ``--epochs E`` changes the number of epochs, for
quick comparisons by hand. (tests/test_q4_reference.py loads this file by path and calls its functions directly.)
"""

from __future__ import annotations

import argparse

import numpy as np


def sigmoid(x):
    x = np.clip(x, -500, 500)  # keeps np.exp from overflowing
    return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


def dsigmoid(x):
    s = sigmoid(x)
    return s * (1 - s)


def softmax(x):
    shifted = np.exp(x - np.max(x))
    return shifted / shifted.sum(axis=0)


def cross_entropy_loss(y, y_hat):
    return -np.sum(y * np.log(y_hat))


def integer_to_one_hot(x, max):
    one_hot = np.zeros(10)
    one_hot[x] = 1
    return one_hot


def initial_parameters():
    rng = np.random.default_rng(80085)
    sizes = [784, 32, 32, 10]
    weights = [rng.normal(0, 1 / np.sqrt(max(n_in, n_out)), (n_in, n_out))
               for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    biases = [np.zeros(n_out) for n_out in sizes[1:]]
    return weights, biases


def forward_one(weights, biases, image, label):
    """Return (loss, one-hot guess) for a single 28x28 image."""
    activation = image.flatten()
    for layer in range(2):
        activation = sigmoid(np.dot(activation, weights[layer]) + biases[layer])
    probabilities = softmax(np.dot(activation, weights[2]) + biases[2])
    guess = integer_to_one_hot(np.argmax(probabilities), 10)
    loss = cross_entropy_loss(integer_to_one_hot(label, 10), probabilities)
    return loss, guess


def evaluate_one_by_one(weights, biases, images, labels):
    losses = np.empty(images.shape[0])
    guesses = np.empty((images.shape[0], 10))
    for i in range(images.shape[0]):
        losses[i], guesses[i] = forward_one(weights, biases, images[i], labels[i])
    truth = np.zeros((labels.size, 10))
    truth[np.arange(labels.size), labels] = 1
    n_correct = int(np.sum(truth * guesses))
    total = labels.shape[0]
    print(f"Average loss: {np.average(losses):.2f}")
    print(f"Accuracy (# of correct guesses): {n_correct} / {total} ( {n_correct / total * 100:.2f} %)")


def train_one(weights, biases, image, label, learning_rate=0.003):
    a0 = image.flatten()
    z1 = np.dot(a0, weights[0]) + biases[0]
    a1 = sigmoid(z1)
    z2 = np.dot(a1, weights[1]) + biases[1]
    a2 = sigmoid(z2)
    z3 = np.dot(a2, weights[2]) + biases[2]
    a3 = softmax(z3)

    target = integer_to_one_hot(label, 10)
    err3 = a3 - target  # dL/dz3 for softmax followed by cross-entropy
    err2 = np.dot(err3, weights[2].T) * dsigmoid(z2)
    err1 = np.dot(err2, weights[1].T) * dsigmoid(z1)
    weight_grads = [np.outer(a0, err1), np.outer(a1, err2), np.outer(a2, err3)]
    bias_grads = [err1, err2, err3]

    for layer in range(3):
        weights[layer] -= weight_grads[layer] * learning_rate
        biases[layer] -= bias_grads[layer] * learning_rate


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handout", action="store_true", help="raw 0-255 pixels instead of [0, 1]")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-limit", type=int, default=None, help="train on the first N images only")
    args = parser.parse_args(argv)

    from nnkit.data import load_mnist

    (x_train, y_train), (x_test, y_test) = load_mnist()
    if args.handout:
        x_train, x_test = x_train.astype(np.float64), x_test.astype(np.float64)
    else:
        x_train, x_test = x_train / 255.0, x_test / 255.0
    y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
    if args.train_limit is not None:
        x_train, y_train = x_train[:args.train_limit], y_train[:args.train_limit]

    weights, biases = initial_parameters()
    evaluate_one_by_one(weights, biases, x_test, y_test)
    for _ in range(args.epochs):
        for i in range(x_train.shape[0]):
            train_one(weights, biases, x_train[i], y_train[i])
        evaluate_one_by_one(weights, biases, x_test, y_test)


if __name__ == "__main__":
    main()
