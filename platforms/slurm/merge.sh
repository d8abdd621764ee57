#!/bin/bash
# The merge job of a sharded Slurm grading run, submitted by submit.sh with --dependency=afterany on the array job, so
# that it runs when a task failed too: it merges SHARDS_DIR/1-of-N ... N-of-N into OUT (gradebook.csv, junit.xml
# and every student's folder, as one run would write them) if every shard finished cleanly in the array job RUN;
# otherwise it names the shards that did not, writes nothing, and fails.
#   sbatch --dependency=afterany:RUN platforms/slurm/merge.sh N SHARDS_DIR OUT RUN
# One CPU and little memory: it only copies folders and writes the class files.
#SBATCH --job-name=nnkit-merge
#SBATCH --cpus-per-task=1
#SBATCH --mem=2G
#SBATCH --time=00:30:00
set -u
usage="usage: sbatch --dependency=afterany:RUN merge.sh N SHARDS_DIR OUT RUN"
n=${1:?$usage}
shards=${2:?$usage}
out=${3:?$usage}
run=${4:?$usage}
cd "${SLURM_SUBMIT_DIR:?}" || exit 1
dirs=()
for ((i = 1; i <= n; i++)); do dirs+=("$shards/$i-of-$n"); done
echo "merging the $n shards of array job $run from $shards into $out"
status=0
.venv/bin/python -m grader.shipping.cli merge --out "$out" --expect-shards "$n" --run "$run" "${dirs[@]}" \
    || status=$?
if [ "$status" != 0 ]; then
    echo "the tasks' logs: $(ls "$shards"/logs/grade-"${run}"_*.out 2>/dev/null | tr '\n' ' ')" >&2
fi
exit "$status"
