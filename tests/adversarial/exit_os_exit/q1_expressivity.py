# @@include solutions/q1_expressivity.py
# Attack: leave at import without any cleanup and with status 0.
import os as _os

_os._exit(0)
