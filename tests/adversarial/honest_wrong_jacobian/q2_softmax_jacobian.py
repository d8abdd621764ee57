# @@include solutions/q2_softmax_jacobian.py
# No attack: an honest wrong Jacobian (zeros), the baseline for the attacks that return a wrong Jacobian in disguise.
def softmax_jacobian(z):
    n = np.asarray(z).size
    return np.zeros((n, n))
