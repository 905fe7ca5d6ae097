#!/usr/bin/env bash
# PCL (PCL Table 1 top: MATH; Table 13: DeepScaleR), k = 4, tau = 0.5, one model per call.
# Usage: [VAR=value ...] bash recipes/pcl/run_pcl.sh [hydra overrides...]; DRY_RUN=1 prints the composed config only.
# Multi-node: NNODES=2 bash scripts/ray_cluster/submit.sh <experiment printed below>, or scripts/slurm/train.sbatch.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DATASET=${DATASET:-math}  # math | deepscaler
MODEL=${MODEL:-qwen3-4b-base}  # qwen3-8b-base | qwen3-4b-base | qwen3-1.7b-base | llama3.2-3b-it
SEED=${SEED:-1}
NNODES=${NNODES:-1}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
DRY_RUN=${DRY_RUN:-0}

overrides=()
case $DATASET in math) TABLE=pcl_table1_math ;; deepscaler) TABLE=pcl_table13_deepscaler ;;
  *) echo "DATASET must be math or deepscaler, got $DATASET" >&2; exit 2 ;; esac
EXPERIMENT=${TABLE}/${MODEL}_pcl

echo "experiment: ${EXPERIMENT}" >&2
SEED=$SEED NNODES=$NNODES GPUS_PER_NODE=$GPUS_PER_NODE DRY_RUN=$DRY_RUN \
  exec bash scripts/launch.sh "$EXPERIMENT" "${overrides[@]}" "$@"
