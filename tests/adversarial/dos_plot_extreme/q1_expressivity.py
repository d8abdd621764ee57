# @@include solutions/q1_expressivity.py
# Attack: approximations whose output weights are finite but near the largest float64, which crash matplotlib.
import numpy as _np

_honest = approximate_function


def approximate_function(f, B, N):
    net = _honest(f, B, N)
    net["W2"] = _np.where(_np.asarray(net["W2"]) >= 0, 1.7e308, -1.7e308)
    return net
