#!/usr/bin/env bash
# GRESO as PCL ran it (PCL Table 1 top, MATH only).
# Usage: [VAR=value ...] bash recipes/greso/run_greso.sh [hydra overrides...]; DRY_RUN=1 prints the composed config only.
# Multi-node: NNODES=2 bash scripts/ray_cluster/submit.sh <experiment printed below>, or scripts/slurm/train.sbatch.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

MODEL=${MODEL:-qwen3-4b-base}  # qwen3-8b-base | qwen3-4b-base | qwen3-1.7b-base | llama3.2-3b-it
SEED=${SEED:-1}
NNODES=${NNODES:-1}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
DRY_RUN=${DRY_RUN:-0}

overrides=()
EXPERIMENT=pcl_table1_math/${MODEL}_greso

echo "experiment: ${EXPERIMENT}" >&2
SEED=$SEED NNODES=$NNODES GPUS_PER_NODE=$GPUS_PER_NODE DRY_RUN=$DRY_RUN \
  exec bash scripts/launch.sh "$EXPERIMENT" "${overrides[@]}" "$@"
