#!/usr/bin/env bash
# Start the Ray head on this node (run once per cluster, from the repository root); workers join with start_worker.sh.
# Uses the project environment's ray ($VENV/bin/ray, VENV=.venv by default) and puts $VENV/bin first on PATH, so the
# raylet, its workers and `ray job submit` entrypoints run the project's python, not whatever PATH had.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"

VENV=${VENV:-.venv}
RAY=${RAY:-$VENV/bin/ray}
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
if [[ ! -x $RAY ]]; then
  echo "error: no ray executable at RAY=$RAY: create the project environment (make setup-gpu) or set VENV / RAY" >&2
  exit 2
fi
PATH="$(cd "$(dirname "$RAY")" && pwd):$PATH"
export PATH
"${cmd[@]}"
echo "head started; on every worker node: HEAD_ADDRESS=$(hostname -I 2>/dev/null | awk '{print $1}'):${RAY_PORT} scripts/ray_cluster/start_worker.sh" >&2
echo "then submit with absolute paths: DATA_DIR=/shared/... MODEL_DIR=/shared/... CKPT_DIR=/shared/... scripts/ray_cluster/submit.sh <experiment>" >&2
