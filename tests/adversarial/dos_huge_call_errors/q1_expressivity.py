# Attack: every call raises an exception with a 1.5 MB message (the reply stays under its 16 MB header limit).
def box_network(h, delta):
    raise ValueError("x" * 1_500_000)


def approximate_function(f, B, N):
    raise ValueError("y" * 1_500_000)
