# @@include solutions/q2_softmax_jacobian.py
# Attack (honour rule): symbolic_jacobian undoes the grader's guard against SymPy's differentiation, then asks SymPy
# for the Jacobian. One way per size: n = 2 restores the original Derivative.__new__ from the caller's frame; n = 3
# also removes the profile hook first; n = 4 deletes the patched method; n = 5 differentiates in a new thread.
import inspect as _inspect
import sys as _sys
import threading as _threading


def _restore_from_frames():
    frame = _inspect.currentframe()
    while frame is not None:
        if "derivative" in frame.f_locals:
            sp.Derivative.__new__ = frame.f_locals["derivative"]
            return
        frame = frame.f_back


def symbolic_jacobian(z):
    n = len(z)
    if n == 3:
        _sys.setprofile(None)
    if n in (2, 3):
        _restore_from_frames()
    if n == 4:
        del sp.Derivative.__new__
    y = symbolic_softmax(z)
    if n == 5:
        box = []
        worker = _threading.Thread(target=lambda: box.append(y.jacobian(z)))
        worker.start()
        worker.join()
        return box[0] if box else sp.zeros(n, n)
    return y.jacobian(z)
