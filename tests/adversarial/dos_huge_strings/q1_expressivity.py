# Attack: returns 500 KB strings, as a value and as dict keys, and prints them.
import sys


def box_network(h, delta):
    sys.stderr.write("e" * 500_000)
    return "s" * 500_000


def approximate_function(f, B, N):
    return {"k" * 500_000: 1, "W1": "w" * 500_000, "b1": [1.0], "W2": [1.0], "b2": 0.0}
