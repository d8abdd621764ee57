#!/bin/bash
# Submit a sharded grading run to Slurm (what `make grade-slurm` runs): an array job of N tasks, grade-array.sh, each
# grading one shard of SUBMISSIONS into SHARDS_DIR/i-of-N, and the merge job, merge.sh, which runs after all of them
# (afterany) and merges them into OUT, or names the shards that failed and writes nothing.
#   platforms/slurm/submit.sh [-n N] [-s SUBMISSIONS] [-o OUT] [-d SHARDS_DIR] [-a SBATCH_OPTIONS] [-- GRADE_OPTIONS]
# Defaults: N=4, SUBMISSIONS=examples/submissions, OUT=grades, SHARDS_DIR=OUT-shards; relative paths are taken from
# the current directory. -a adds sbatch options to the grading tasks (e.g. "--cpus-per-task=4 --partition=short");
# the SBATCH_* environment variables (SBATCH_PARTITION, SBATCH_ACCOUNT, ...) reach both jobs. GRADE_OPTIONS go to
# `nnkit grade` (e.g. --skip-training). Logs: SHARDS_DIR/logs/. After a failure, run the same command again: every
# submission already graded is cached, so only what is missing is graded.
# Run it on a login node; the kit's directory (this script's ../..) must be set up (`make setup`) and seen by every node.
set -eu
n=4 submissions=examples/submissions out=grades shards="" sbatch_opts=""
while getopts "n:s:o:d:a:h" opt; do
    case $opt in
        n) n=$OPTARG ;;
        s) submissions=$OPTARG ;;
        o) out=$OPTARG ;;
        d) shards=$OPTARG ;;
        a) sbatch_opts=$OPTARG ;;
        *) sed -n '2,11s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
case $n in '' | *[!0-9]* | 0) echo "error: -n needs a number of shards >= 1, got '$n'" >&2; exit 2 ;; esac
command -v sbatch >/dev/null || { echo "error: no sbatch here: run this on a Slurm login node" >&2; exit 2; }
[ -d "$submissions" ] || { echo "error: $submissions is not a directory of submissions" >&2; exit 2; }

kit=$(cd "$(dirname "$0")/../.." && pwd)
[ -x "$kit/.venv/bin/python" ] || { echo "error: $kit is not set up: run \`make setup\` there first" >&2; exit 2; }
submissions=$(realpath "$submissions")
out=$(realpath -m "$out")
shards=$(realpath -m "${shards:-$out-shards}")
mkdir -p "$shards/logs"

cd "$kit"  # the jobs' submit directory: they run the kit from here
# shellcheck disable=SC2086  # -a holds several options
array=$(sbatch --parsable --array="1-$n" --output="$shards/logs/grade-%A_%a.out" $sbatch_opts \
        platforms/slurm/grade-array.sh "$submissions" "$shards" "$@")
array=${array%%;*}
merge=$(sbatch --parsable --dependency="afterany:$array" --output="$shards/logs/merge-%j.out" \
        platforms/slurm/merge.sh "$n" "$shards" "$out" "$array")
merge=${merge%%;*}
echo "submitted array job $array ($n shards of $submissions into $shards) and merge job $merge (into $out)"
echo "follow them with: squeue -j $array,$merge; the merge's log: $shards/logs/merge-$merge.out"
