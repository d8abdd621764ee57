# @@include solutions/q1_expressivity.py
# Attack: an output bias that is a Python integer beyond float64 (10**400), which overflows a float conversion.
_box_network = box_network


def box_network(h, delta):
    net = _box_network(h, delta)
    net["b2"] = 10 ** 400
    return net
