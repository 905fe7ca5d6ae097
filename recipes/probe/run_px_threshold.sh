#!/usr/bin/env bash
# PCL's p(x)-threshold study (Table 6 -> Table 12): probe-and-select at tau_p = PX, m*n = 4096.
# Usage: [VAR=value ...] bash recipes/probe/run_px_threshold.sh [hydra overrides...]; DRY_RUN=1 prints the composed config only.
# Multi-node: NNODES=2 bash scripts/ray_cluster/submit.sh <experiment printed below>, or scripts/slurm/train.sbatch.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

PX=${PX:-0.5}  # 0 | 0.25 | 0.5 | 0.75 | 1
M=${M:-256}  # 32 | 64 | 128 | 256 | 512 | 1024 | 2048 (n = 4096 / m)

N=$((4096 / M))
EXPERIMENT=pcl_table6_px/qwen3-4b-base_px${PX}_m${M}_n${N}

echo "experiment: ${EXPERIMENT}" >&2
exec bash scripts/launch.sh "$EXPERIMENT" "$@"  # SEED, NNODES, GPUS_PER_NODE, DRY_RUN: launch.sh's
