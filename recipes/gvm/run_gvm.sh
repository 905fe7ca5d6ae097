#!/usr/bin/env bash
# One GVM iteration (CurES Table 1 rows GVM-GRPO/RPP): 10 steps on NuminaMath subset ITERATION from its pilot table.
# Usage: [VAR=value ...] bash recipes/gvm/run_gvm.sh [hydra overrides...]; DRY_RUN=1 prints the composed config only.
# Multi-node: NNODES=2 bash scripts/ray_cluster/submit.sh <experiment printed below>, or scripts/slurm/train.sbatch.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

MODEL=${MODEL:-qwen2.5-math-1.5b}  # qwen2.5-math-1.5b | qwen2.5-math-7b
ESTIMATOR=${ESTIMATOR:-grpo}  # grpo | rpp
ITERATION=${ITERATION:-1}  # 1..15; iteration i > 1 starts from the merged weights of i - 1 (MODEL_PATH)
MODEL_PATH=${MODEL_PATH:-}

overrides=()
EXPERIMENT=cures_table1/${MODEL}_gvm-${ESTIMATOR}
overrides+=("run.iteration=${ITERATION}")
[[ -n $MODEL_PATH ]] && overrides+=("actor_rollout_ref.model.path=${MODEL_PATH}")

echo "experiment: ${EXPERIMENT}" >&2
exec bash scripts/launch.sh "$EXPERIMENT" "${overrides[@]}" "$@"  # SEED, NNODES, GPUS_PER_NODE, DRY_RUN: launch.sh's
