#!/usr/bin/env bash
# SPEED: PCL rows (pipelined, Tables 1/13) or CurES rows (Speed-RL-GRPO/RPP, exact).
# Usage: [VAR=value ...] bash recipes/speed/run_speed.sh [hydra overrides...]; DRY_RUN=1 prints the composed config only.
# Multi-node: NNODES=2 bash scripts/ray_cluster/submit.sh <experiment printed below>, or scripts/slurm/train.sbatch.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

PAPER=${PAPER:-pcl}  # pcl | cures
DATASET=${DATASET:-math}  # pcl: math | deepscaler
MODEL=${MODEL:-qwen3-4b-base}  # pcl: qwen3-*-base, llama3.2-3b-it; cures: qwen2.5-math-1.5b | qwen2.5-math-7b
ESTIMATOR=${ESTIMATOR:-grpo}  # cures: grpo | rpp
SEED=${SEED:-1}
NNODES=${NNODES:-1}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
DRY_RUN=${DRY_RUN:-0}

overrides=()
if [[ $PAPER == cures ]]; then
  EXPERIMENT=cures_table1/${MODEL}_speed-rl-${ESTIMATOR}
else
  case $DATASET in math) TABLE=pcl_table1_math ;; deepscaler) TABLE=pcl_table13_deepscaler ;;
    *) echo "DATASET must be math or deepscaler, got $DATASET" >&2; exit 2 ;; esac
  EXPERIMENT=${TABLE}/${MODEL}_speed
fi

echo "experiment: ${EXPERIMENT}" >&2
SEED=$SEED NNODES=$NNODES GPUS_PER_NODE=$GPUS_PER_NODE DRY_RUN=$DRY_RUN \
  exec bash scripts/launch.sh "$EXPERIMENT" "${overrides[@]}" "$@"
