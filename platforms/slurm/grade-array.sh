#!/bin/bash
# One task of a Slurm array job that grades a class in shards: task i of n runs
#   nnkit grade --submissions SUBMISSIONS --out SHARDS_DIR/i-of-n --shard i/n -j $SLURM_CPUS_PER_TASK [options]
# with the kit in the submit directory, through grader.shipping.shards, which then leaves the shard record
# (SHARDS_DIR/i-of-n/.shard.json) that the merge job (merge.sh) checks. platforms/slurm/submit.sh (`make
# grade-slurm`) submits it with the merge; by hand, from the kit's directory (set up once with `make setup`, on a
# filesystem every node sees):
#   sbatch --array=1-8 platforms/slurm/grade-array.sh SUBMISSIONS SHARDS_DIR [nnkit grade options]
#
# Resources per task: each CPU grades one submission at a time (J = SLURM_CPUS_PER_TASK). A submission needs its
# trusted pytest process and one sandboxed worker at a time, which the memory watchdog stops at 6 GB (a training
# worker; 4 GB otherwise); the reference peaks at 1.3 GB. Hence 7 GB per CPU; about 2.5 minutes per submission with
# training, so 4 hours is ample for 80 submissions per CPU. Change them with sbatch options (they override these).
#SBATCH --job-name=nnkit-grade
#SBATCH --cpus-per-task=2
#SBATCH --mem-per-cpu=7G
#SBATCH --time=04:00:00
set -u
usage="usage: sbatch --array=1-N grade-array.sh SUBMISSIONS SHARDS_DIR [nnkit grade options]"
submissions=${1:?$usage}
shards=${2:?$usage}
shift 2
: "${SLURM_ARRAY_TASK_ID:?not an array task: $usage}"
cd "${SLURM_SUBMIT_DIR:?}" || exit 1
python=.venv/bin/python
[ -x "$python" ] || { echo "error: no $PWD/$python: submit from the kit's directory after \`make setup\`" >&2; exit 2; }

i=$SLURM_ARRAY_TASK_ID
n=$SLURM_ARRAY_TASK_COUNT
log=$(scontrol show job "$SLURM_JOB_ID" -o 2>/dev/null | sed -n 's/.* StdOut=\([^ ]*\).*/\1/p')
exec "$python" -m grader.shipping.shards --run "$SLURM_ARRAY_JOB_ID" --log "$log" -- \
    --submissions "$submissions" --out "$shards/$i-of-$n" --shard "$i/$n" -j "${SLURM_CPUS_PER_TASK:-1}" "$@"
