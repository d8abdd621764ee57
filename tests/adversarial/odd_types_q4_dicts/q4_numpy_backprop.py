# Attack: backward and init_params return dicts, strings and None where lists of arrays belong.
import numpy as np


def forward(weights, biases, x):
    return np.full((len(x), 10), 0.1)


def backward(weights, biases, x, y):
    return (0.5, {"W1": 1}, "b")


def init_params(rng, layer_sizes=(784, 32, 32, 10)):
    return ({"W1": None}, None)
