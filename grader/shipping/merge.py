"""Combine the outputs of sharded grading runs: ``nnkit merge --out grades shard1/ shard2/ ...``.

Each shard directory is what ``make grade SHARD=i/n OUT=...`` wrote. Its submission directories are copied into OUT
(a student found in two shards is an error: the shards overlap), replacing OUT's earlier copy of the same student;
every other submission already graded into OUT stays, and so do the TA scores and comments kept in OUT; those a
shard kept are added where OUT holds none for that answer. Then the class outputs are rebuilt from the whole of OUT
by the code a grade run uses (:func:`grader.shipping.grade.write_class_outputs`: feedback, gradebook.csv, junit.xml,
the written-answer pages, similarity.html and any course-site export already in OUT), so a merge writes exactly
what one run would.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from grader.reporting import written
from grader.shipping import shards as shard_records


def submission_dirs(out: Path) -> list[Path]:
    """The graded submissions in a grading output (a shard's or OUT)."""
    from grader.shipping.grade import graded_dirs

    return graded_dirs(out)


def merge(shards: list[Path], out: Path) -> list[Path]:
    """Copy the shards' submissions into ``out``, keep the TA scores, rebuild the class outputs; return every
    submission graded into ``out`` (those of the shards and those ``out`` held before)."""
    from grader.shipping.grade import write_class_outputs

    out.mkdir(parents=True, exist_ok=True)
    seen: dict[str, Path] = {}
    for shard in shards:
        for sub in submission_dirs(shard):
            if sub.name in seen:
                raise SystemExit(f"error: {sub.name} is in both {seen[sub.name]} and {shard}: the shards overlap")
            seen[sub.name] = shard
    for name, shard in seen.items():
        sub, target = shard / name, out / name
        if target.resolve() != sub.resolve():
            tmp = out / f".merge-{name}"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(sub, tmp)
            if target.exists():
                shutil.rmtree(target)
            tmp.rename(target)
    _keep_ta_scores([s for s in shards if s.resolve() != out.resolve()], out)
    write_class_outputs(out)
    return submission_dirs(out)


def _keep_ta_scores(shards: list[Path], out: Path) -> None:
    """Add the TA scores and comments a shard kept (one graded with --manual-scores) to those kept in ``out``; where
    both hold one for the same answer, ``out``'s stays."""
    kept = [shard for shard in shards if (shard / written.WRITTEN_DIR / written.STORE).is_file()]
    if not kept:
        return
    questions = written.load_questions()
    sheet = written.stored_sheet(out, questions)
    for shard in kept:
        theirs = written.stored_sheet(shard, questions)
        for mine, other in ((sheet.scores, theirs.scores), (sheet.comments, theirs.comments)):
            for sid, values in other.items():
                for key, value in values.items():
                    mine.setdefault(sid, {}).setdefault(key, value)
    (out / written.WRITTEN_DIR).mkdir(parents=True, exist_ok=True)
    written.write_sheet(out / written.WRITTEN_DIR / written.STORE, sheet, questions)


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
    try:
        subs = merge(args.shards, args.out)
    except (written.ManualScoresError, written.RubricError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"merged {len(args.shards)} shards into {args.out}, which now holds {len(subs)} graded submission"
          f"{'s' * (len(subs) != 1)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
