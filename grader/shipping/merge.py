"""Combine the outputs of sharded grading runs: ``python -m grader.shipping.merge --out grades shard1/ shard2/ ...``.

Each shard directory is what ``make grade SHARD=i/n OUT=...`` wrote. Submission directories are copied (a student
found in two shards is an error: the shards overlap), then gradebook.csv and junit.xml are written for the whole
class, exactly as a single run would write them.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from grader.reporting import report
from grader.shipping import shards as shard_records


def submission_dirs(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / "results.json").exists())


def merge(shards: list[Path], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    seen: dict[str, Path] = {}
    for shard in shards:
        for sub in submission_dirs(shard):
            if sub.name in seen:
                raise SystemExit(f"error: {sub.name} is in both {seen[sub.name]} and {shard}: the shards overlap")
            seen[sub.name] = shard
            target = out / sub.name
            if target.resolve() != sub.resolve():
                tmp = out / f".merge-{sub.name}"
                shutil.rmtree(tmp, ignore_errors=True)
                shutil.copytree(sub, tmp)
                if target.exists():
                    shutil.rmtree(target)
                tmp.rename(target)
    subs = [out / name for name in sorted(seen)]
    report.write_gradebook(out, subs)
    report.write_junit(out, subs)
    return subs


def refuse_unfinished(shards: list[Path], n: int, run: str | None) -> bool:
    """Print which shards did not finish and return True if any did not: then nothing is merged."""
    failed = shard_records.problems(shards, n, run)
    if failed:
        print("error: not merging, so that no partial gradebook is written:\n  " + "\n  ".join(failed),
              file=sys.stderr)
    return bool(failed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--expect-shards", type=int, metavar="N",
                        help="the shards 1..N must all be given, each with a shard record of a clean finish "
                             "(grader.shipping.shards); otherwise name the failed ones and write nothing")
    parser.add_argument("--run", help="with --expect-shards: the records must be from this run (not left by an earlier one)")
    parser.add_argument("shards", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if args.expect_shards is not None and refuse_unfinished(args.shards, args.expect_shards, args.run):
        return 1
    missing = [s for s in args.shards if not s.is_dir()]
    if missing:
        print(f"error: not a directory: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    subs = merge(args.shards, args.out)
    print(f"merged {len(subs)} submissions from {len(args.shards)} shards into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
