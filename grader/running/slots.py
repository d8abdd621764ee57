"""Training slots: concurrent training workers on disjoint cores, each with thread counts for its share.

``nnkit grade -j N`` makes one slot folder for its run (:func:`for_run`) and names it in ``NNKIT_TRAINING_SLOTS`` for
the pytest processes it starts. The folder holds ``slots.json`` (``{"slots": [[cpu, ...], ...]}``: the cores of each
slot, disjoint) and one lock file per slot. A training worker holds a slot for its whole run (:func:`training_slot`,
an exclusive ``fcntl`` lock, released by the kernel if the holder dies), is pinned to the slot's cores and gets as
many threads as it has cores (:func:`thread_env`). Without the variable there is no slot: the worker keeps the
default thread counts (``nnkit check``, a single pytest run).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ENV = "NNKIT_TRAINING_SLOTS"
_POLL = 0.2


@dataclass(frozen=True)
class Share:
    """One slot: its index and the cores it may use."""
    index: int
    cpus: tuple[int, ...]

    @property
    def threads(self) -> int:
        return len(self.cpus)


def available_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def layout(jobs: int, cpus: list[int] | None = None) -> list[list[int]]:
    """The cores of each slot for ``jobs`` concurrent submissions: min(jobs, cores) slots of equal, disjoint
    groups of cores (a remainder is left to the non-training workers)."""
    cpus = available_cpus() if cpus is None else cpus
    n = max(1, min(jobs, len(cpus)))
    size = len(cpus) // n
    return [cpus[i * size:(i + 1) * size] for i in range(n)]


def create(folder: Path, slots: list[list[int]], jobs: int = 1) -> Path:
    """A slot folder for ``slots`` (the cores of each), shared by ``jobs`` concurrent submissions."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "slots.json").write_text(json.dumps({"slots": slots, "jobs": jobs}))
    return folder


def queued() -> int:
    """How many trainings may queue for one slot in this run: ceil(jobs / slots), 1 without a slot folder."""
    name = os.environ.get(ENV)
    if not name:
        return 1
    config = json.loads((Path(name) / "slots.json").read_text())
    return max(1, -(-int(config.get("jobs", 1)) // max(1, len(config["slots"]))))


@contextlib.contextmanager
def for_run(jobs: int, parent: Path | None = None):
    """For one ``nnkit grade`` run: a slot folder in ``NNKIT_TRAINING_SLOTS`` while the block runs (an existing
    one, set by whoever started us, is kept). The folder is made in ``parent`` as ``.work-slots-*``, which a later
    run into the same OUT removes if this one was killed. Yields the number of slots."""
    existing = os.environ.get(ENV)
    if existing:
        yield len(_read(Path(existing)))
        return
    folder = Path(tempfile.mkdtemp(prefix=".work-slots-", dir=parent))
    create(folder, layout(jobs), jobs)
    os.environ[ENV] = str(folder)
    try:
        yield len(_read(folder))
    finally:
        os.environ.pop(ENV, None)
        shutil.rmtree(folder, ignore_errors=True)


def _read(folder: Path) -> list[tuple[int, ...]]:
    slots = json.loads((folder / "slots.json").read_text())["slots"]
    return [tuple(int(c) for c in cpus) for cpus in slots]


@contextlib.contextmanager
def training_slot():
    """Hold a free slot of the run's folder while the block runs, waiting for one if all are taken; yields its
    :class:`Share`, or None when no slot folder is set."""
    name = os.environ.get(ENV)
    if not name:
        yield None
        return
    folder = Path(name)
    slots = _read(folder)
    while True:
        for index, cpus in enumerate(slots):
            fd = os.open(folder / f"slot-{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield Share(index, cpus)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        time.sleep(_POLL)


def thread_env(threads: int) -> dict[str, str]:
    """The environment that gives a worker ``threads`` threads: BLAS and OpenMP pools, TensorFlow's intra-op and
    inter-op pools (read by TensorFlow at import, and applied again by the worker)."""
    n = str(max(1, threads))
    return {"OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n,
            "TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": n}
