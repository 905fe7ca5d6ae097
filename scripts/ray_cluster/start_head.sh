#!/usr/bin/env bash
# Start the Ray head on this node (run once per cluster, from the repo root's venv); workers join with start_worker.sh.
set -euo pipefail

RAY=${RAY:-ray}
RAY_PORT=${RAY_PORT:-6379}
DASHBOARD_PORT=${DASHBOARD_PORT:-8265}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
DRY_RUN=${DRY_RUN:-0}

cmd=("$RAY" start --head --port="$RAY_PORT" --dashboard-host=0.0.0.0 --dashboard-port="$DASHBOARD_PORT"
  --num-gpus="$GPUS_PER_NODE" "$@")
if [[ $DRY_RUN == 1 ]]; then
  printf 'dry run:'; printf ' %q' "${cmd[@]}"; echo
  exit 0
fi
"${cmd[@]}"
echo "head started; on every worker node: HEAD_ADDRESS=$(hostname -I 2>/dev/null | awk '{print $1}'):${RAY_PORT} scripts/ray_cluster/start_worker.sh" >&2
