#!/usr/bin/env bash
# Join this node to a running Ray head (HEAD_ADDRESS=<ip>:<port>); the package must be installed here too (make setup-gpu).
# Uses the project environment's ray ($VENV/bin/ray, VENV=.venv by default) and puts $VENV/bin first on PATH, so the
# raylet and its workers run the project's python.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"

VENV=${VENV:-.venv}
RAY=${RAY:-$VENV/bin/ray}
HEAD_ADDRESS=${HEAD_ADDRESS:?set HEAD_ADDRESS=<head ip>:<port> (printed by start_head.sh)}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
DRY_RUN=${DRY_RUN:-0}

cmd=("$RAY" start --address="$HEAD_ADDRESS" --num-gpus="$GPUS_PER_NODE" "$@")
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
