# @@include solutions/q1_expressivity.py
# Attack: write 4 GB to stdout and stderr at import.
import os as _os

_chunk = b"flood " * (1 << 17)
for _ in range(4096 * 1024 // 768):
    _os.write(1, _chunk)
    _os.write(2, _chunk)
