# @@include solutions/q1_expressivity.py
# Attack: ask for 64 GB at import.
_HOARD = bytearray(64 << 30)
