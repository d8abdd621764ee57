# @@include solutions/q2_softmax_jacobian.py
# Attack: a Jacobian of NaN, infinities and 1e308, values on which careless comparisons (nan > tol) pass.
def softmax_jacobian(z):
    n = np.asarray(z).size
    J = np.full((n, n), np.nan)
    J[::2] = np.inf
    J[:, ::3] = 1e308
    J[-1] = -1e308
    return J
