# @@include solutions/q1_expressivity.py
# Attack: sleeps 50 s at import, under the 60 s of one worker, in every worker that imports it.
import time as _time

_time.sleep(50)
