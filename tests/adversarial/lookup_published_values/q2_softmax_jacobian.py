# @@include solutions/q2_softmax_jacobian.py
# Attack: answer softmax and softmax_jacobian for the student bundle's published inputs (seed 2), by size.
_g = np.random.default_rng(2)
_PUBLISHED = {n: _g.normal(size=n) * 2 for n in (2, 3, 5, 10)}
_softmax, _jacobian = softmax, softmax_jacobian


def softmax(z):
    return _softmax(_PUBLISHED.get(np.size(z), z))


def softmax_jacobian(z):
    return _jacobian(_PUBLISHED.get(np.size(z), z).copy())
