#!/usr/bin/env bash
# PCL's GRPO sweeps (Tables 4 and 5 -> Tables 7-11): one (model, m, n, context, workers, engine) run.
# Usage: [VAR=value ...] bash recipes/grpo/run_sweep.sh [hydra overrides...]; DRY_RUN=1 prints the composed config only.
# Multi-node: NNODES=2 bash scripts/ray_cluster/submit.sh <experiment printed below>, or scripts/slurm/train.sbatch.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DATASET=${DATASET:-deepscaler}  # math (Table 4) | deepscaler (Table 5)
MODEL=${MODEL:-qwen3-4b-base}
M=${M:-512}
N=${N:-16}
CTX=${CTX:-4096}  # 4096 | 8192 (Table 9)
WORKERS=${WORKERS:-8}  # 8 | 1 (Table 10: one engine over 8 GPUs)
ENGINE=${ENGINE:-vllm}  # vllm | sglang (Table 11)

overrides=()
case $DATASET in math) TABLE=pcl_table4_math ;; deepscaler) TABLE=pcl_table5_deepscaler ;;
  *) echo "DATASET must be math or deepscaler, got $DATASET" >&2; exit 2 ;; esac
TAG=_m${M}_n${N}
[[ $CTX != 4096 ]] && TAG+=_ctx${CTX}
[[ $WORKERS != 8 ]] && TAG+=_${WORKERS}worker
[[ $ENGINE != vllm ]] && TAG+=_${ENGINE}
EXPERIMENT=${TABLE}/${MODEL}${TAG}

echo "experiment: ${EXPERIMENT}" >&2
exec bash scripts/launch.sh "$EXPERIMENT" "${overrides[@]}" "$@"  # SEED, NNODES, GPUS_PER_NODE, DRY_RUN: launch.sh's
