# @@include assignments/q1_expressivity.py
# Attack: write the worker's reply ourselves, on its own descriptor, claiming every call succeeded (without a value),
# then leave before the worker can write the real one.
import json as _json
import os as _os
import sys as _sys

import protocol as _protocol  # the worker's encoder, mounted beside it


def _reply_fd():
    frame = _sys._getframe()
    while frame is not None:
        if "reply_fd" in frame.f_locals:
            return frame.f_locals["reply_fd"]
        frame = frame.f_back


_calls = _json.loads(open(_sys.argv[1] + "/request.json").read())["calls"]
_forged = {"import": {"ok": True}, "timings": [], "calls": {c["id"]: {"ok": True, "seconds": 0.0} for c in _calls}}
_forged["calls"][_calls[0]["id"]] = {"ok": "yes", "value": 1}
_os.write(_reply_fd(), _protocol.encode(_forged))
_os._exit(0)
