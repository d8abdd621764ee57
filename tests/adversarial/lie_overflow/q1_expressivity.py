# @@include solutions/q1_expressivity.py
# Attack: extra neurons with output weights of +-1e308, so the grader's own forward pass overflows to inf - inf = NaN.
_approximate_function = approximate_function


def approximate_function(f, B, N):
    net = _approximate_function(f, B, N)
    return {"W1": np.append(net["W1"], [1.0, 1.0, 1.0]), "b1": np.append(net["b1"], [B, B, B]),
            "W2": np.append(net["W2"], [1e308, 1e308, -1e308]), "b2": net["b2"]}
