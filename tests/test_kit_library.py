"""Student code imports the kit's library (``nnkit``) from the checkout that grades it, in every sandbox mode.

The environment's editable install maps ``nnkit`` to the checkout it was installed from; a second checkout using the
same environment (a course's copy of the kit, the tests' copies of the repository) must still give its workers its
own ``nnkit``, which is the only one bound into the sandbox."""

from __future__ import annotations

import shutil
import warnings

import pytest

from grader.running import runner, sandbox
from grader.running.runner import Call

STUDENT = """\
import nnkit
from nnkit import gradcheck


def where():
    return [getattr(nnkit, "MARK", "installed copy"), gradcheck.__name__]
"""

MODES = {"bubblewrap": {}, "landlock": {"NNKIT_NO_BWRAP": "1"},
         "none": {"NNKIT_NO_BWRAP": "1", "NNKIT_NO_LANDLOCK": "1"}}


@pytest.mark.parametrize("mode", MODES)
def test_worker_imports_the_bound_library(tmp_path, monkeypatch, mode):
    library = tmp_path / "other-checkout" / "nnkit"
    shutil.copytree(runner.NNKIT, library, ignore=shutil.ignore_patterns("__pycache__"))
    init = library / "__init__.py"
    init.write_text(init.read_text() + '\nMARK = "the grading checkout"\n')
    monkeypatch.setattr(runner, "NNKIT", library)
    for name, value in MODES[mode].items():
        monkeypatch.setenv(name, value)
    assert sandbox.sandbox_mode() == mode
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "toy.py").write_text(STUDENT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sandbox.FallbackWarning)
        run = runner.run_calls(sub, "toy", "main", [Call(id="w", function="where")], sandbox.Limits())
    assert run.ok and not run.import_error, (run.reason, run.import_error, run.stderr)
    assert run.calls["w"]["ok"], run.calls["w"]
    assert list(run.calls["w"]["value"]) == ["the grading checkout", "nnkit.gradcheck"]
