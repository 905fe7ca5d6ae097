#!/usr/bin/env bash
# Prepare every training and evaluation set the paper configs read, into $DATA_DIR/<template>/<dataset>/ (needs the
# hub), then print what was written, dropped and normalised (python -m verl_ext.data.report).
#   DRY_RUN=1                          print the commands only
#   VERL_EXT_DATA_FIXTURES=<dir>       read <dir>/<source>.jsonl instead of the hub (tests; sizes are not checked)
#   PREPARE_ARGS="--strict"            extra arguments for every scripts/prepare_data.py call
# Every dataset is attempted; the script exits non-zero at the end if any was refused, naming them.
set -uo pipefail
cd "$(dirname "$0")/.."
DATA_DIR=${DATA_DIR:-data/prepared}
PYTHON=${PYTHON:-.venv/bin/python}
DRY_RUN=${DRY_RUN:-0}
read -r -a EXTRA <<< "${PREPARE_ARGS:-}"
if [[ -n "${VERL_EXT_DATA_FIXTURES:-}" ]]; then
  echo "VERL_EXT_DATA_FIXTURES=$VERL_EXT_DATA_FIXTURES: preparing local fixtures, not the published datasets"
  EXTRA+=(--allow-size-mismatch)
fi
failed=()

run() {
  echo "+ $*"
  if [[ "$DRY_RUN" != 1 ]]; then
    "$@" || failed+=("$*")
  fi
}

prepare() {  # prepare <template> <dataset> [args...]
  local template=$1 dataset=$2
  shift 2
  run "$PYTHON" scripts/prepare_data.py --dataset "$dataset" --template "$template" --out "$DATA_DIR/$template" \
    "$@" ${EXTRA[@]+"${EXTRA[@]}"}
}

# PCL: MATH and DeepScaleR for Qwen3-Base (plain text) and Llama-3.2-Instruct (stock chat template); the PCL suite
# (MATH500, OlympiadBench 674, Minerva x4, AMC23/AIME24/AIME25 x32)
for template in qwen3_base llama_instruct; do
  for dataset in math deepscaler; do
    prepare "$template" "$dataset"
  done
  prepare "$template" eval --suite pcl
done
# CurES: the 15 NuminaMath subsets (pool and per-subset files) and its suite (8 benchmarks, OlympiadBench 675,
# AIME/AMC x16), Qwen2.5-Math chat template
for dataset in numina_pool $(seq -f "numina_%g" 1 15); do
  prepare qwen_math "$dataset"
done
prepare qwen_math eval --suite cures

if [[ "$DRY_RUN" != 1 ]]; then
  "$PYTHON" -m verl_ext.data.report "$DATA_DIR" || failed+=("report")
fi
if (( ${#failed[@]} )); then
  printf 'refused or failed (%d):\n' "${#failed[@]}" >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 2
fi
