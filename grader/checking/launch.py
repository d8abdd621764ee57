"""``python -m grader.checking.launch <pytest arguments>``: the graded checks' pytest, in a process set up for them.

Before anything imports numpy or pytest's plugins: BLAS runs single-threaded (the trusted checks are small, and the
plugin starts sandboxed workers from a background thread; forking beside OpenBLAS's own threads can deadlock), and
pytest loads no plugin from the environment's entry points and takes no option from it (the checks need only the
kit's plugin, which ``pytest.ini`` names; third-party plugins cost start-up time, and they or a ``PYTEST_ADDOPTS``
set for the kit's own tests or by a user's shell could change how checks run).
"""

from __future__ import annotations

import os
import sys

SINGLE_THREADED_BLAS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# what pytest reads from the environment besides its arguments: options, and plugins to load
PYTEST_FROM_ENVIRONMENT = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")


def main(argv: list[str]) -> int:
    os.environ.update(SINGLE_THREADED_BLAS)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    for name in PYTEST_FROM_ENVIRONMENT:
        os.environ.pop(name, None)
    import pytest

    return int(pytest.main(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
