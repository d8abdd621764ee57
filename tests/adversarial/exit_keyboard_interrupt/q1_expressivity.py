# @@include solutions/q1_expressivity.py
# Attack: raise KeyboardInterrupt at import, which a careless "except Exception" lets through.
raise KeyboardInterrupt
