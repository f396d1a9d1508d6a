#!/usr/bin/env bash
# One Slurm array task per sweep entry:
#   n=$(prunelab lottery -sweep sweep.json -list | wc -l)
#   sbatch --array=0-$((n-1)) deploy/slurm-lottery-sweep.sh sweep.json /shared/runs
# A requeued or rerun task resumes where it stopped.
#SBATCH --job-name=prunelab-lottery
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --requeue
#SBATCH --output=prunelab-lottery-%A_%a.out
set -euo pipefail
sweep=${1:?usage: slurm-lottery-sweep.sh SWEEP.json OUT_DIR}
out=${2:?usage: slurm-lottery-sweep.sh SWEEP.json OUT_DIR}
exec prunelab lottery -sweep "$sweep" -index "${SLURM_ARRAY_TASK_ID:?not in a Slurm array}" -out "$out"
