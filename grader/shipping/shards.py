"""Shard records: what each task of a sharded grading run leaves behind, so that the merge can tell a finished shard
from a failed one and refuse to write a partial gradebook.

    python -m grader.shipping.shards --run ID [--log PATH] -- --submissions DIR --out DIR --shard I/N [options]

runs ``nnkit grade`` with those options (its paths made absolute), then writes ``DIR/.shard.json``: the shard, the
exit status, the run ID (the Slurm array job, the GitHub Actions run), host, time and log. ``nnkit merge
--expect-shards N --run ID`` reads the records (see ``problems``). The record of an earlier run is removed first, so
a task that dies leaves none.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
import traceback
from pathlib import Path

from grader.files import atomic_write_text

RECORD = ".shard.json"
DID_NOT_FINISH = ("no shard record: its task did not finish (it failed before grading, or was killed: out of time "
                  "or memory, cancelled, or its node failed); its log says why")


def write_record(shard_dir: Path, shard: tuple[int, int], status: int, run: str, log: str = "") -> Path:
    """Write ``shard_dir/.shard.json``: the shard i/n, the grade command's exit status, the run, host, time and log."""
    record = {"shard": list(shard), "status": status, "run": run, "host": socket.gethostname(),
              "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "log": log}
    path = Path(shard_dir) / RECORD
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    return path


def _read(shard_dir: Path) -> tuple[dict | None, str]:
    if not shard_dir.is_dir():
        return None, "not a directory: its task did not finish (it could not write its output there, or never ran)"
    try:
        record = json.loads((shard_dir / RECORD).read_text())
    except FileNotFoundError:
        return None, DID_NOT_FINISH
    except (OSError, ValueError) as exc:
        return None, f"unreadable shard record {RECORD}: {exc}"
    shard = record.get("shard") if isinstance(record, dict) else None
    if not (isinstance(shard, list) and len(shard) == 2 and all(type(v) is int for v in shard)):
        return None, f"malformed shard record {RECORD}: no shard [i, n]"
    return record, ""


def problems(shard_dirs: list[Path], n: int, run: str | None = None) -> list[str]:
    """Why these shard outputs are not the whole class: one line per shard that did not finish cleanly, naming it,
    then which of the shards 1..n are missing. Empty when each of 1..n is here exactly once, recorded with exit
    status 0 (and by the run ``run``, when given)."""
    lines: list[str] = []
    done: dict[int, Path] = {}
    for shard_dir in shard_dirs:
        record, why = _read(shard_dir)
        if record is None:
            lines.append(f"{shard_dir}: {why}")
            continue
        i, m = record["shard"]
        name = f"shard {i}/{m} ({shard_dir})"
        log = f"; its log: {record['log']}" if record.get("log") else ""
        where = f" on {record.get('host', '?')} at {record.get('finished', '?')}"
        if m != n or not 1 <= i <= n:
            lines.append(f"{name}: graded as shard {i} of {m}, but this merge expects {n} shards")
        elif run is not None and str(record.get("run")) != str(run):
            lines.append(f"{name}: its record is from run {record.get('run')!r}, not from this run {run!r} "
                         f"(left by an earlier run; this run's task did not finish){log}")
        elif record.get("status") != 0:
            lines.append(f"{name}: `nnkit grade` exited with status {record.get('status')}{where}{log}")
        elif i in done:
            lines.append(f"{name}: shard {i}/{n} was already given as {done[i]}")
        else:
            done[i] = shard_dir
    missing = [i for i in range(1, n + 1) if i not in done]
    if missing:
        lines.append(f"not finished: shard {', '.join(f'{i}/{n}' for i in missing)}; fix the cause and submit the "
                     "whole run again: finished submissions are cached, so only what is missing is graded")
    return lines


def main(argv: list[str] | None = None) -> int:
    from grader.shipping import grade  # here, so that the merge, which reads records, stays light
    from grader.shipping.grade import parse_shard

    parser = argparse.ArgumentParser(
        prog="python -m grader.shipping.shards",
        description="Grade one shard (`nnkit grade` with the options after --), then leave its shard record.")
    parser.add_argument("--run", required=True, help="the run the task belongs to (the Slurm array job id, ...)")
    parser.add_argument("--log", default="", help="where the task's log is, for the merge's message")
    parser.add_argument("grade_options", nargs=argparse.REMAINDER, help="-- then the options of `nnkit grade`")
    args = parser.parse_args(argv)
    options = args.grade_options[1:] if args.grade_options[:1] == ["--"] else args.grade_options
    peek = argparse.ArgumentParser(prog="nnkit grade", add_help=False)
    peek.add_argument("--submissions", type=Path, required=True)
    peek.add_argument("--out", type=Path, required=True)
    peek.add_argument("--shard", type=parse_shard, required=True)
    where, rest = peek.parse_known_args(options)
    # absolute, because `nnkit grade` runs each submission's checks from the kit's folder
    where.submissions, where.out = where.submissions.absolute(), where.out.absolute()
    i, n = where.shard
    options = ["--submissions", str(where.submissions), "--out", str(where.out), "--shard", f"{i}/{n}", *rest]
    if where.out.is_dir():
        (where.out / RECORD).unlink(missing_ok=True)
    print(f"shard {i}/{n} of run {args.run} on {socket.gethostname()}: nnkit grade {' '.join(options)}", flush=True)
    try:
        status = grade.main(options)
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    except Exception:  # a grader bug: recorded as a failed shard, never as a finished one
        traceback.print_exc()
        status = 1
    try:
        write_record(where.out, where.shard, status, args.run, args.log)
    except OSError as exc:
        print(f"error: cannot write the shard record in {where.out}: {exc}", file=sys.stderr)
        status = status or 1
    print(f"shard {i}/{n}: nnkit grade exited with status {status}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
