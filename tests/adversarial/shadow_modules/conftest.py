# Attack: a pytest plugin that turns every check into a pass, if pytest ever collects from the submission folder.
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
    open("@@OUT@@/SHADOW-@@MARKER@@", "w").write("conftest.py ran")
