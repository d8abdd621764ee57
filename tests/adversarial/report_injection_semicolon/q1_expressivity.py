# @@include assignments/q1_expressivity.py
# Attack: an import error whose text is a formula after a ';' (a spreadsheet in a locale that splits on ';'
# sees a cell starting with '='), also after ',' and with blanks before it.
raise RuntimeError("x;=cmd|' /C calc'!A0;  +cmd|' /C calc'!A0, @SUM(A1:A9); -2+3;=HYPERLINK(\"http://evil\")")
