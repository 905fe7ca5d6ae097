#!/usr/bin/env bash
# Dynamic Sampling as PCL ran it (PCL Tables 1/13), k = 2 unless overridden (curriculum.params.k=...).
# Usage: [VAR=value ...] bash recipes/ds/run_ds.sh [hydra overrides...]; DRY_RUN=1 prints the composed config only.
# Multi-node: NNODES=2 bash scripts/ray_cluster/submit.sh <experiment printed below>, or scripts/slurm/train.sbatch.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DATASET=${DATASET:-math}  # math | deepscaler
MODEL=${MODEL:-qwen3-4b-base}
SEED=${SEED:-1}
NNODES=${NNODES:-1}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
DRY_RUN=${DRY_RUN:-0}

overrides=()
case $DATASET in math) TABLE=pcl_table1_math ;; deepscaler) TABLE=pcl_table13_deepscaler ;;
  *) echo "DATASET must be math or deepscaler, got $DATASET" >&2; exit 2 ;; esac
EXPERIMENT=${TABLE}/${MODEL}_ds

echo "experiment: ${EXPERIMENT}" >&2
SEED=$SEED NNODES=$NNODES GPUS_PER_NODE=$GPUS_PER_NODE DRY_RUN=$DRY_RUN \
  exec bash scripts/launch.sh "$EXPERIMENT" "${overrides[@]}" "$@"
