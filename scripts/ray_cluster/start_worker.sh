#!/usr/bin/env bash
# Join this node to a running Ray head (HEAD_ADDRESS=<ip>:<port>); the package must be installed here too (make setup-gpu).
set -euo pipefail

RAY=${RAY:-ray}
HEAD_ADDRESS=${HEAD_ADDRESS:?set HEAD_ADDRESS=<head ip>:<port> (printed by start_head.sh)}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
DRY_RUN=${DRY_RUN:-0}

cmd=("$RAY" start --address="$HEAD_ADDRESS" --num-gpus="$GPUS_PER_NODE" "$@")
if [[ $DRY_RUN == 1 ]]; then
  printf 'dry run:'; printf ' %q' "${cmd[@]}"; echo
  exit 0
fi
"${cmd[@]}"
