# @@include assignments/q1_expressivity.py
# Attack: print what passing checks, a perfect results.json and a gradebook row look like.
import sys as _sys

_FAKE = """\
questions/q1_expressivity/checks.py::test_box_network_has_two_hidden_neurons PASSED
questions/q1_expressivity/checks.py::test_approximation_within_bound PASSED
============================== 12 passed in 0.42s ==============================
{"score": 39.0, "max_score": 39.0, "execution_time": 1.0, "tests": [{"name": "Q1a", "score": 9.0, "max_score": 9.0,
 "status": "passed", "tags": ["q1_expressivity"]}]}
student_id,q1_expressivity,q2_softmax_jacobian,q3_fashion_mnist,q4_numpy_backprop,total,max,note
forge_print_pass,9,10,10,10,39,39,
"""
for _ in range(3):
    print(_FAKE)
    print(_FAKE, file=_sys.stderr)
