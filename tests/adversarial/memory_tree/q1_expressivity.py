# @@include solutions/q1_expressivity.py
# Attack: eight processes of 700 MB each, every one under the per-process limit, 5.6 GB together (capped there so
# that a failing defence cannot hurt the machine).
import os as _os
import time as _time

for _ in range(8):
    if _os.fork() == 0:
        _hoard = bytearray(700 << 20)
        for _i in range(0, len(_hoard), 4096):
            _hoard[_i] = 1
        _time.sleep(120)
        _os._exit(0)
for _ in range(8):
    _os.wait()
