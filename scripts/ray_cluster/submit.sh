#!/usr/bin/env bash
# Submit one experiment to a running Ray cluster with `ray job submit`; the repo (verl_ext, recipes, configs) ships as
# the job's working_dir, so every node imports the same code.
#   DATA_DIR=/shared/data MODEL_DIR=/shared/models CKPT_DIR=/shared/ckpt NNODES=2 \
#     scripts/ray_cluster/submit.sh pcl_table1_math/qwen3-8b-base_pcl [hydra overrides...]
# DATA_DIR, MODEL_DIR and CKPT_DIR must be absolute paths on a file system every node mounts: a relative path would
# resolve inside Ray's per-node copy of the working dir (data missing, checkpoints lost). Checkpoints, TensorBoard
# events, verl's file logger and the console log all go under $CKPT_DIR/<project>/<experiment>/ (scripts/launch.sh).
# Knobs: RAY_ADDRESS (dashboard, default http://127.0.0.1:8265), NNODES, GPUS_PER_NODE, SEED, FORCE, VENV, RAY,
# DRY_RUN=1 (compose, validate and print the config locally; no Ray).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"

VENV=${VENV:-.venv}
RAY=${RAY:-$VENV/bin/ray}
RAY_ADDRESS=${RAY_ADDRESS:-http://127.0.0.1:8265}
NNODES=${NNODES:-2}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
SEED=${SEED:-1}
FORCE=${FORCE:-0}
DRY_RUN=${DRY_RUN:-0}

EXPERIMENT=${1:?usage: scripts/ray_cluster/submit.sh <experiment> [hydra overrides...]}
shift

# The dry run composes and validates the config locally exactly as the job will (no Ray, no GPU, paths not needed).
if [[ $DRY_RUN == 1 ]]; then
  NNODES=$NNODES GPUS_PER_NODE=$GPUS_PER_NODE SEED=$SEED DRY_RUN=1 bash scripts/launch.sh "$EXPERIMENT" "$@"
  exit 0
fi

# paths as seen from the cluster nodes (shared file system): absolute, or refused
bad=()
for var in DATA_DIR MODEL_DIR CKPT_DIR; do
  value=${!var:-}
  if [[ -z $value ]]; then
    bad+=("$var is not set")
  elif [[ $value != /* ]]; then
    bad+=("$var=$value is relative")
  fi
done
if [[ ${#bad[@]} -gt 0 ]]; then
  {
    echo "error: ray job submit needs absolute DATA_DIR, MODEL_DIR and CKPT_DIR on a file system every node mounts"
    echo "(a relative path resolves inside Ray's uploaded working dir on each node: data missing, checkpoints lost):"
    printf '  %s\n' "${bad[@]}"
  } >&2
  exit 2
fi
if [[ ! -x $RAY ]] && ! command -v "$RAY" >/dev/null 2>&1; then
  echo "error: no ray executable at RAY=$RAY (the project's environment: make setup-gpu, or set VENV / RAY)" >&2
  exit 2
fi

GIT_COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if git rev-parse --git-dir >/dev/null 2>&1 && [[ -n $(git status --porcelain --untracked-files=no) ]]; then
  if [[ $FORCE != 1 ]]; then
    echo "error: the git tree has uncommitted changes; commit them or rerun with FORCE=1" >&2
    exit 3
  fi
  GIT_COMMIT="${GIT_COMMIT}+dirty"  # the spelling of verl_ext.provenance.commit_label
fi

RUNTIME_ENV=$(mktemp --suffix=.json)
trap 'rm -f "$RUNTIME_ENV"' EXIT
cat >"$RUNTIME_ENV" <<JSON
{
  "working_dir": ".",
  "excludes": [".git", ".venv", "data/prepared", "data/cache", "checkpoints", "outputs", "models", "tensorboard_log"],
  "env_vars": {
    "DATA_DIR": "${DATA_DIR}", "MODEL_DIR": "${MODEL_DIR}", "CKPT_DIR": "${CKPT_DIR}",
    "GIT_COMMIT": "${GIT_COMMIT}", "FORCE": "1", "PYTHON": "python",
    "NNODES": "${NNODES}", "GPUS_PER_NODE": "${GPUS_PER_NODE}", "SEED": "${SEED}"
  }
}
JSON

cmd=("$RAY" job submit --address="$RAY_ADDRESS" --runtime-env="$RUNTIME_ENV" --
  bash scripts/launch.sh "$EXPERIMENT" "$@")
printf 'submitting:'; printf ' %q' "${cmd[@]}"; echo
"${cmd[@]}"
