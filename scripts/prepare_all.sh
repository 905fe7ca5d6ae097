#!/usr/bin/env bash
# Prepare every training and evaluation set the paper configs read, into $DATA_DIR/<template>/<dataset>/ (needs the hub).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR=${DATA_DIR:-data/prepared}
PYTHON=${PYTHON:-.venv/bin/python}
DRY_RUN=${DRY_RUN:-0}

run() {
  echo "+ $*"
  if [[ "$DRY_RUN" != 1 ]]; then "$@"; fi
}

# PCL: MATH and DeepScaleR for Qwen3-Base (plain text) and Llama-3.2-Instruct (stock chat template)
for template in qwen3_base llama_instruct; do
  for dataset in math deepscaler eval; do
    run "$PYTHON" scripts/prepare_data.py --dataset "$dataset" --template "$template" --out "$DATA_DIR/$template"
  done
done
# CurES: the 15 NuminaMath subsets (pool and per-subset files) and its benchmarks, Qwen2.5-Math chat template
for dataset in numina_pool $(seq -f "numina_%g" 1 15) eval; do
  run "$PYTHON" scripts/prepare_data.py --dataset "$dataset" --template qwen_math --out "$DATA_DIR/qwen_math"
done
