# @@include assignments/q1_expressivity.py
# Attack: find the reference solution (on disk or as the installed package) and answer with it.
import glob as _glob
import importlib as _importlib

_reference = None
try:
    _reference = _importlib.import_module("solutions.q1_expressivity")
except Exception as _exc:
    print("import solutions.q1_expressivity:", type(_exc).__name__, _exc)
_paths = ["@@REPO@@/solutions/q1_expressivity.py", "/kit/../solutions/q1_expressivity.py", "../solutions/q1_expressivity.py"]
_paths += _glob.glob("/*/solutions/q1_expressivity.py") + _glob.glob("/*/*/solutions/q1_expressivity.py")
_paths += _glob.glob("/*/*/*/solutions/q1_expressivity.py") + _glob.glob("/*/*/*/*/solutions/q1_expressivity.py")
for _path in _paths:
    try:
        _namespace = {"__name__": "stolen"}
        exec(compile(open(_path).read(), _path, "exec"), _namespace)
        _reference = _reference or type("Stolen", (), {k: staticmethod(v) for k, v in _namespace.items()
                                                       if callable(v)})
        print("read", _path, open(_path).read()[:3000])
    except Exception as _exc:
        print(_path, type(_exc).__name__, _exc)
if _reference is not None:
    box_network = _reference.box_network
    approximate_function = _reference.approximate_function
