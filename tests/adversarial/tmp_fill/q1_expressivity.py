# @@include solutions/q1_expressivity.py
# Attack: write a 1 GB file to /tmp, then fill /tmp with smaller files.
_chunk = b"\0" * (1 << 20)
_report = []
try:
    with open("/tmp/big-@@MARKER@@", "wb") as _f:
        for _ in range(1024):
            _f.write(_chunk)
except OSError as _exc:
    _report.append(f"1 GB file: {_exc}")
try:
    for _i in range(64):
        with open(f"/tmp/fill-{_i}-@@MARKER@@", "wb") as _f:
            for _ in range(48):
                _f.write(_chunk)
except OSError as _exc:
    _report.append(f"filling /tmp: {_exc}")
raise RuntimeError("; ".join(_report) or "wrote everything")
