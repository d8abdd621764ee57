# Attack: shadow numpy for the worker and the grader, so every comparison passes.
import sys
open("@@OUT@@/SHADOW-@@MARKER@@", "w").write("numpy.py ran")
allclose = lambda *args, **kwargs: True
sys.modules["numpy"] = sys.modules[__name__]
