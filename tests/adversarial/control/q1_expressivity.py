# @@include solutions/q1_expressivity.py
# What other submissions try to read: @@CONTROL_TOKEN@@
