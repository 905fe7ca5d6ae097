#!/usr/bin/env bash
# Pre-filter's GRPO stage on the kept prompts (PCL Tables 1/13); run the offline pi_0 pass first (README).
# Usage: [VAR=value ...] bash recipes/prefilter/run_prefilter.sh [hydra overrides...]; DRY_RUN=1 prints the composed config only.
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
EXPERIMENT=${TABLE}/${MODEL}_prefilter

echo "experiment: ${EXPERIMENT}" >&2
SEED=$SEED NNODES=$NNODES GPUS_PER_NODE=$GPUS_PER_NODE DRY_RUN=$DRY_RUN \
  exec bash scripts/launch.sh "$EXPERIMENT" "${overrides[@]}" "$@"
