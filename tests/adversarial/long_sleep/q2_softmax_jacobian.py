# @@include solutions/q2_softmax_jacobian.py
# Attack: sleep for an hour at import.
import time as _time

_time.sleep(3600)
