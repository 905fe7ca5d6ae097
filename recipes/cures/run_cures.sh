#!/usr/bin/env bash
# CurES (CurES Table 1 rows CurES-GRPO/RPP): cures_release (one iteration), cures_algorithm1 or cures_online.
# Usage: [VAR=value ...] bash recipes/cures/run_cures.sh [hydra overrides...]; DRY_RUN=1 prints the composed config only.
# Multi-node: NNODES=2 bash scripts/ray_cluster/submit.sh <experiment printed below>, or scripts/slurm/train.sbatch.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

MODEL=${MODEL:-qwen2.5-math-1.5b}  # qwen2.5-math-1.5b | qwen2.5-math-7b
ESTIMATOR=${ESTIMATOR:-grpo}  # grpo | rpp
MODE=${MODE:-algorithm1}  # algorithm1 (paper's Alg. 1, 150 steps) | online (project variant) | release (1 of 15)
ITERATION=${ITERATION:-1}
MODEL_PATH=${MODEL_PATH:-}

overrides=()
case $MODE in algorithm1) EXPERIMENT=cures_table1/${MODEL}_cures-${ESTIMATOR}-paper ;;
  online) EXPERIMENT=cures_table1/${MODEL}_cures-${ESTIMATOR}-online ;;
  release) EXPERIMENT=cures_table1/${MODEL}_cures-${ESTIMATOR}; overrides+=("run.iteration=${ITERATION}") ;;
  *) echo "MODE must be algorithm1, online or release, got $MODE" >&2; exit 2 ;; esac
[[ -n $MODEL_PATH ]] && overrides+=("actor_rollout_ref.model.path=${MODEL_PATH}")

echo "experiment: ${EXPERIMENT}" >&2
exec bash scripts/launch.sh "$EXPERIMENT" "${overrides[@]}" "$@"  # SEED, NNODES, GPUS_PER_NODE, DRY_RUN: launch.sh's
