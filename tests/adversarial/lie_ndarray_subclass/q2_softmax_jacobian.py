# @@include solutions/q2_softmax_jacobian.py
# Attack: a wrong Jacobian (zeros) in an ndarray subclass that claims to equal anything it is compared with.
class _Agreeable(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.broadcast(self, other).shape, dtype=bool)

    def __ne__(self, other):
        return np.zeros(np.broadcast(self, other).shape, dtype=bool)

    def __sub__(self, other):
        return np.zeros(np.broadcast(self, other).shape)

    __rsub__ = __sub__

    def __abs__(self):
        return np.zeros(self.shape)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return np.zeros(np.broadcast(*[np.asarray(x) for x in inputs]).shape)

    def __float__(self):
        return 0.0


def softmax_jacobian(z):
    n = np.asarray(z).size
    return np.zeros((n, n)).view(_Agreeable)
