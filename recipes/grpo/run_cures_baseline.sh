#!/usr/bin/env bash
# GRPO / REINFORCE++ as CurES ran them (CurES Table 1 rows GRPO, RPP) on NuminaMath 1-15.
# Usage: [VAR=value ...] bash recipes/grpo/run_cures_baseline.sh [hydra overrides...]; DRY_RUN=1 prints the composed config only.
# Multi-node: NNODES=2 bash scripts/ray_cluster/submit.sh <experiment printed below>, or scripts/slurm/train.sbatch.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

MODEL=${MODEL:-qwen2.5-math-1.5b}  # qwen2.5-math-1.5b | qwen2.5-math-7b
ESTIMATOR=${ESTIMATOR:-grpo}  # grpo | rpp
SEED=${SEED:-1}
NNODES=${NNODES:-1}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
DRY_RUN=${DRY_RUN:-0}

overrides=()
EXPERIMENT=cures_table1/${MODEL}_${ESTIMATOR}

echo "experiment: ${EXPERIMENT}" >&2
SEED=$SEED NNODES=$NNODES GPUS_PER_NODE=$GPUS_PER_NODE DRY_RUN=$DRY_RUN \
  exec bash scripts/launch.sh "$EXPERIMENT" "${overrides[@]}" "$@"
