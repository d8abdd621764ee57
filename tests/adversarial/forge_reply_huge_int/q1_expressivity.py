# @@include assignments/q1_expressivity.py
# Attack: a forged reply whose values are integers too large for float64 (the worker itself refuses to send them).
import json as _json
import os as _os
import struct as _struct
import sys as _sys

import protocol as _protocol


def _reply_fd():
    frame = _sys._getframe()
    while frame is not None:
        if "reply_fd" in frame.f_locals:
            return frame.f_locals["reply_fd"]
        frame = frame.f_back


_calls = _json.loads(open(_sys.argv[1] + "/request.json").read())["calls"]
_big = "9" * 400
_values = {c["id"]: f'{{"ok": true, "value": {{"W1": [{_big}, 1], "b1": [0, 0], "W2": [1, 1], "b2": {_big}}}}}'
           for c in _calls}
_header = ('{"import": {"ok": true}, "calls": {' + ", ".join(f'"{k}": {v}' for k, v in _values.items()) + "}}").encode()
_os.write(_reply_fd(), _protocol.MAGIC + _struct.pack("<Q", len(_header)) + _header)
_os._exit(0)
