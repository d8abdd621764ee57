# Attack: backward returns plain numbers where lists of arrays belong.
import numpy as np


def forward(weights, biases, x):
    return np.full((len(x), 10), 0.1)


def backward(weights, biases, x, y):
    return (1.0, 2, 3)
