# @@include solutions/q1_expressivity.py
# Attack: answer for the function the visible check uses (sin on [-pi, pi]) whatever f is given.
_approximate_function = approximate_function


def approximate_function(f, B, N):
    return _approximate_function(np.sin, B, N)
