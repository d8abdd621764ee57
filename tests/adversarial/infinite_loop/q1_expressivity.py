# @@include solutions/q1_expressivity.py
# Attack: never return.
def box_network(h, delta):
    while True:
        pass
