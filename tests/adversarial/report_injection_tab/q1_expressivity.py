# @@include assignments/q1_expressivity.py
# Attack: an import error whose text holds tabs, line breaks, carriage returns, NEL and a form feed, each
# followed by a formula, so a tab-separated or line-based reading sees a cell starting with '='.
raise RuntimeError("ok\t=cmd|' /C calc'!A0\n=1+1\r@SUM(A1)\r\n+2\x85=3\x0c-4\u2028=5\x00=6")
