# @@include solutions/q1_expressivity.py
# Attack: values whose __array__ says one thing (zeros) while float(), ==, len() and indexing say the right answer.
class _TwoFaced:
    def __init__(self, values):
        self.values = list(np.atleast_1d(values).astype(float))

    def __array__(self, dtype=None, copy=None):
        return np.zeros(len(self.values))

    def __float__(self):
        return self.values[0]

    def __eq__(self, other):
        return True

    def __len__(self):
        return len(self.values)

    def __getitem__(self, i):
        return self.values[i]


_box_network = box_network


def box_network(h, delta):
    return {key: _TwoFaced(value) for key, value in _box_network(h, delta).items()}
