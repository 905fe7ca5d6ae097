#!/usr/bin/env bash
# Launch one published run (configs/experiment/<experiment>.yaml) or a recipe's default config on this node / Ray cluster.
#   scripts/launch.sh <experiment | recipe:<name>> [hydra overrides...]
#   e.g. scripts/launch.sh pcl_table1_math/qwen3-8b-base_pcl trainer.total_training_steps=100
# Every start first composes and validates the config (verl_ext.trainer.preflight: curriculum and strategy checks,
# verl's validate_config, the files the run reads) and exits 2 naming the key when a check fails.
# Knobs (environment): DRY_RUN=1 composes, validates (no file checks) and prints the config (no Ray, no GPU);
# FORCE=1 allows a dirty git tree; SEED, NNODES, GPUS_PER_NODE, LOGGER; DATA_DIR, MODEL_DIR, CKPT_DIR (read by the
# configs; relative values are taken from the repository root and made absolute); VENV, PYTHON.
# Under $CKPT_DIR/<project>/<experiment>/: checkpoints, provenance.json (-<n> on resume), launch/ (console log),
# tensorboard/ (TENSORBOARD_DIR) and metrics.jsonl (verl's file logger, VERL_FILE_LOGGER_PATH).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

if [[ $# -lt 1 ]]; then
  echo "usage: scripts/launch.sh <experiment | recipe:<name>> [hydra overrides...]" >&2
  echo "experiments: configs/experiment/<paper_table>/<row>.yaml, e.g. pcl_table1_math/qwen3-8b-base_pcl" >&2
  exit 2
fi
TARGET=$1
shift

DRY_RUN=${DRY_RUN:-0}
FORCE=${FORCE:-0}
SEED=${SEED:-1}
NNODES=${NNODES:-1}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
LOGGER=${LOGGER:-"[console,tensorboard,file]"}
VENV=${VENV:-.venv}
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x $VENV/bin/python ]]; then PYTHON=$VENV/bin/python; else PYTHON=python; fi
fi
# Absolute paths: Ray workers on other nodes (and Ray's per-job working dir) must read the same files.
absolute() { if [[ $1 == /* ]]; then echo "$1"; else echo "$REPO/$1"; fi; }
DATA_DIR=$(absolute "${DATA_DIR:-data/prepared}")
MODEL_DIR=$(absolute "${MODEL_DIR:-models}")
CKPT_DIR=$(absolute "${CKPT_DIR:-checkpoints}")
export DATA_DIR MODEL_DIR CKPT_DIR

if [[ $TARGET == recipe:* ]]; then
  RECIPE=${TARGET#recipe:}
  EXPERIMENT_OVERRIDE=()
else
  CONFIG_FILE=configs/experiment/${TARGET}.yaml
  if [[ ! -f $CONFIG_FILE ]]; then
    echo "error: no experiment config $CONFIG_FILE; list them with: find configs/experiment -name '*.yaml'" >&2
    exit 2
  fi
  RECIPE=$("$PYTHON" -c 'import sys; from omegaconf import OmegaConf; print(OmegaConf.load(sys.argv[1]).run.recipe)' \
    "$CONFIG_FILE")
  EXPERIMENT_OVERRIDE=("experiment=${TARGET}")
fi
# One entry point serves every training recipe; the recipe (the experiment's run.recipe) names its primary config.
if [[ ! -f configs/${RECIPE}.yaml ]]; then
  echo "error: recipe '${RECIPE}' has no primary config configs/${RECIPE}.yaml" >&2
  exit 2
fi
module=(-m recipes.main "--config-name=${RECIPE}")

overrides=(
  "${EXPERIMENT_OVERRIDE[@]}"
  "seed=${SEED}"
  "trainer.nnodes=${NNODES}"
  "trainer.n_gpus_per_node=${GPUS_PER_NODE}"
  "trainer.logger=${LOGGER}"
)
cmd=("$PYTHON" "${module[@]}" "${overrides[@]}" "$@")

preflight=("$PYTHON" -m verl_ext.trainer.preflight --config-dir "$REPO/configs" --config-name "$RECIPE")
if [[ $DRY_RUN == 1 ]]; then
  echo "# dry run: ${cmd[*]} (composed, validated and printed by verl_ext.trainer.preflight)" >&2
  exec "${preflight[@]}" --dry-run "${overrides[@]}" "$@"
fi

# Results must name a commit: refuse a dirty tree unless FORCE=1. The run's provenance (commit, git_dirty, versions,
# command line, resolved config, dataset metadata) is written once, by the entry point (verl_ext.provenance), to
# <trainer.default_local_dir>/provenance.json (provenance-<n>.json for a resume).
if git rev-parse --git-dir >/dev/null 2>&1 && [[ -n $(git status --porcelain --untracked-files=no) ]]; then
  if [[ $FORCE != 1 ]]; then
    echo "error: the git tree has uncommitted changes; commit them or rerun with FORCE=1 (recorded as git_dirty)" >&2
    exit 3
  fi
fi
RESOLVED=$(mktemp)
trap 'rm -f "$RESOLVED"' EXIT
# every check a start makes (paths included) before Ray starts; exit 2 naming the key on failure
"${preflight[@]}" --output "$RESOLVED" "${overrides[@]}" "$@"
RUN_DIR=$("$PYTHON" -c 'import sys; from omegaconf import OmegaConf; print(OmegaConf.load(sys.argv[1]).trainer.default_local_dir)' \
  "$RESOLVED")
RUN_DIR=$(absolute "$RUN_DIR")
mkdir -p "$RUN_DIR/launch"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)

# Logs next to the checkpoints. verl's TensorBoard and file loggers read these variables inside Ray actors, which do
# not inherit this shell's environment on a running cluster: pass them through verl's ray_init runtime_env.
export TENSORBOARD_DIR=${TENSORBOARD_DIR:-$RUN_DIR/tensorboard}
export VERL_FILE_LOGGER_PATH=${VERL_FILE_LOGGER_PATH:-$RUN_DIR/metrics.jsonl}
cmd+=(
  "++ray_kwargs.ray_init.runtime_env.env_vars.TENSORBOARD_DIR=${TENSORBOARD_DIR}"
  "++ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH=${VERL_FILE_LOGGER_PATH}"
)
CONSOLE_LOG=$RUN_DIR/launch/console_${STAMP}.log
echo "run dir: $RUN_DIR (provenance.json; console log in $RUN_DIR/launch/)" >&2
rm -f "$RESOLVED"
trap - EXIT
exec > >(tee -a "$CONSOLE_LOG") 2>&1
exec "${cmd[@]}"
