# @@include assignments/q1_expressivity.py
# Attack: error messages and output made to break out of the reports: HTML and script, a code fence closed early
# and Markdown that fakes a total, XML that closes the JUnit failure, terminal escapes, control characters and a
# spreadsheet formula.
_EVIL = ("<script>alert('@@MARKER@@')</script><img src=x onerror=alert(1)>"
         "\n```\n~~~\n\n**Total: 39 / 39 points**\n\n| Q1 | 9 / 9 |\n]]></failure></testcase><testcase name=\"forged\"/>"
         "\x1b[2J\x1b[31mall passed\x1b[0m \x00\x07\x08 \ud800 =HYPERLINK(\"http://evil\")")
print(_EVIL.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))


def box_network(h, delta):
    raise NotImplementedError(_EVIL)


def approximate_function(f, B, N):
    raise ValueError(_EVIL)
