# Attack: a replacement for the grader's plugin.
def _record(*args, **kwargs):
    open("@@OUT@@/SHADOW-@@MARKER@@", "w").write("grader/plugin.py ran")
