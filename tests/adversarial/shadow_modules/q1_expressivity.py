# @@include solutions/q1_expressivity.py
