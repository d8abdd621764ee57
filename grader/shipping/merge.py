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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("shards", type=Path, nargs="+")
    args = parser.parse_args(argv)
    missing = [s for s in args.shards if not s.is_dir()]
    if missing:
        print(f"error: not a directory: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    subs = merge(args.shards, args.out)
    print(f"merged {len(subs)} submissions from {len(args.shards)} shards into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
