# @@include solutions/q1_expressivity.py
# Attack: a daemon (double fork, new session) that outlives the worker and keeps trying to write into the output
# folder; it holds the worker's stdout open and its command line carries the marker the test looks for.
import os as _os
import sys as _sys

_DAEMON = """
import time
while True:
    try:
        open('@@OUT@@/daemon-@@MARKER@@', 'w').write('still running')
    except OSError:
        pass
    print('daemon alive', flush=True)
    time.sleep(0.5)
"""
if _os.fork() == 0:
    _os.setsid()
    if _os.fork() == 0:
        _os.execv(_sys.executable, [_sys.executable, "-c", _DAEMON, "daemon-@@MARKER@@"])
    _os._exit(0)
_os.wait()
