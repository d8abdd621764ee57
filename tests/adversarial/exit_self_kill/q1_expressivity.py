# @@include solutions/q1_expressivity.py
# Attack: SIGKILL the worker itself at import.
import os as _os
import signal as _signal

_os.kill(_os.getpid(), _signal.SIGKILL)
