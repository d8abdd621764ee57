# @@include solutions/q1_expressivity.py
# Attack: fill the temporary directory the sandbox gives ($TMPDIR: a tmpfs under bubblewrap, a private folder on the
# grader's disk under Landlock) with 3 GB of files, then with many small ones.
import os as _os

_chunk = b"\1" * (1 << 20)
_report = []
_tmp = _os.environ.get("TMPDIR", "/tmp")
try:
    for _i in range(64):
        with open(_os.path.join(_tmp, f"fill-{_i}-@@MARKER@@"), "wb") as _f:
            for _ in range(48):
                _f.write(_chunk)
except OSError as _exc:
    _report.append(f"filling TMPDIR: {_exc}")
try:
    for _i in range(200_000):
        open(_os.path.join(_tmp, f"small-{_i}-@@MARKER@@"), "wb").close()
except OSError as _exc:
    _report.append(f"small files: {_exc}")
raise RuntimeError("; ".join(_report) or "wrote everything")
