# @@include solutions/q1_expressivity.py
# Attack: 5 GB in 80 memory files that are never mapped, so the proportional set size of the process stays small
# (capped at 5 GB so that a failing defence cannot hurt the machine).
import os as _os

_chunk = b"\1" * (1 << 20)
_hoard = []
for _i in range(80):
    _fd = _os.memfd_create(f"hoard{_i}")
    for _ in range(64):
        _os.write(_fd, _chunk)
    _hoard.append(_fd)
