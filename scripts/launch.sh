#!/usr/bin/env bash
# Launch one published run (configs/experiment/<experiment>.yaml) or a recipe's default config on this node / Ray cluster.
#   scripts/launch.sh <experiment | recipe:<name>> [hydra overrides...]
#   e.g. scripts/launch.sh pcl_table1_math/qwen3-8b-base_pcl trainer.total_training_steps=100
# Knobs (environment): DRY_RUN=1 composes and prints the config (no Ray, no GPU); FORCE=1 allows a dirty git tree;
# SEED, NNODES, GPUS_PER_NODE, LOGGER; DATA_DIR, MODEL_DIR, CKPT_DIR (read by the configs); PYTHON.
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
LOGGER=${LOGGER:-"[console,tensorboard]"}
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
fi
export DATA_DIR=${DATA_DIR:-data/prepared}
export MODEL_DIR=${MODEL_DIR:-models}
export CKPT_DIR=${CKPT_DIR:-checkpoints}

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
ENTRY=recipes/${RECIPE}/main_${RECIPE}.py
if [[ ! -f $ENTRY ]]; then
  echo "error: recipe '${RECIPE}' has no entry point $ENTRY" >&2
  exit 2
fi
# A recipe whose main is not a Hydra trainer entry (prefilter's is the offline pi_0 pass) trains through the grpo
# entry with its own primary config.
if grep -q "hydra.main" "$ENTRY"; then
  module=(-m "recipes.${RECIPE}.main_${RECIPE}")
else
  module=(-m recipes.grpo.main_grpo --config-name "$RECIPE")
fi

overrides=(
  "${EXPERIMENT_OVERRIDE[@]}"
  "seed=${SEED}"
  "trainer.nnodes=${NNODES}"
  "trainer.n_gpus_per_node=${GPUS_PER_NODE}"
  "trainer.logger=${LOGGER}"
)
cmd=("$PYTHON" "${module[@]}" "${overrides[@]}" "$@")

if [[ $DRY_RUN == 1 ]]; then
  echo "# dry run: ${cmd[*]} --cfg job --resolve" >&2
  exec "${cmd[@]}" --cfg job --resolve
fi

# Provenance: refuse a dirty tree (results must name a commit), then log config, commit and verl version.
GIT_COMMIT=${GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
if git rev-parse --git-dir >/dev/null 2>&1 && [[ -n $(git status --porcelain --untracked-files=no) ]]; then
  if [[ $FORCE != 1 ]]; then
    echo "error: the git tree has uncommitted changes; commit them or rerun with FORCE=1 (logged as dirty)" >&2
    exit 3
  fi
  GIT_COMMIT="${GIT_COMMIT}-dirty"
fi
RESOLVED=$(mktemp)
trap 'rm -f "$RESOLVED"' EXIT
"${cmd[@]}" --cfg job --resolve >"$RESOLVED"
RUN_DIR=$("$PYTHON" -c 'import sys; from omegaconf import OmegaConf; print(OmegaConf.load(sys.argv[1]).trainer.default_local_dir)' \
  "$RESOLVED")
mkdir -p "$RUN_DIR/launch"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
cp "$RESOLVED" "$RUN_DIR/launch/config_${STAMP}.yaml"
{
  echo "time: ${STAMP}"
  echo "git_commit: ${GIT_COMMIT}"
  echo "verl_version: $("$PYTHON" -c 'import importlib.metadata as m; print(m.version("verl"))')"
  echo "host: $(hostname)"
  printf 'command:'; printf ' %q' "${cmd[@]}"; echo
} >"$RUN_DIR/launch/provenance_${STAMP}.txt"
echo "run dir: $RUN_DIR (config and provenance in $RUN_DIR/launch/)" >&2
exec "${cmd[@]}"
