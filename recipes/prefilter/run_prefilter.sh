#!/usr/bin/env bash
# Pre-filter's GRPO stage on the kept prompts (PCL Tables 1/13); run the offline pi_0 pass first (README).
# Usage: [VAR=value ...] bash recipes/prefilter/run_prefilter.sh [hydra overrides...]; DRY_RUN=1 prints the composed config only.
# Multi-node: NNODES=2 bash scripts/ray_cluster/submit.sh <experiment printed below>, or scripts/slurm/train.sbatch.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DATASET=${DATASET:-math}  # math | deepscaler
MODEL=${MODEL:-qwen3-4b-base}
STAGE=${STAGE:-train}  # filter (offline pi_0 pass, n_pre = 16) | train (GRPO on the kept prompts)
HF_ID=${HF_ID:-Qwen/Qwen3-4B-Base}  # filter stage: the model's Hugging Face id (its folder under MODEL_DIR)
TEMPLATE=${TEMPLATE:-qwen3_base}  # filter stage: qwen3_base | llama_instruct
MAX_NEW_TOKENS=${MAX_NEW_TOKENS:-4096}
SEED=${SEED:-1}  # filter stage; the train stage's SEED, NNODES, GPUS_PER_NODE and DRY_RUN are launch.sh's
DRY_RUN=${DRY_RUN:-0}

overrides=()
case $DATASET in math) TABLE=pcl_table1_math ;; deepscaler) TABLE=pcl_table13_deepscaler ;;
  *) echo "DATASET must be math or deepscaler, got $DATASET" >&2; exit 2 ;; esac
EXPERIMENT=${TABLE}/${MODEL}_prefilter

if [[ $STAGE == filter ]]; then
  DATA_DIR=${DATA_DIR:-data/prepared}
  MODEL_DIR=${MODEL_DIR:-models}
  filter_cmd=(python -m recipes.prefilter.filter_pass --backend vllm
    --data "${DATA_DIR}/${TEMPLATE}/${DATASET}/train.parquet" --model "${MODEL_DIR}/${HF_ID}"
    --n-pre 16 --p-low 0 --p-high 1 --temperature 1.0 --top-p 1.0 --top-k -1 --max-new-tokens "$MAX_NEW_TOKENS"
    --seed "$SEED" --out-dir "${DATA_DIR}/${TEMPLATE}/${DATASET}/prefilter/${MODEL}")
  if [[ $DRY_RUN == 1 ]]; then
    printf 'dry run:'; printf ' %q' "${filter_cmd[@]}" "$@"; echo
    exit 0
  fi
  exec "${filter_cmd[@]}" "$@"
fi

echo "experiment: ${EXPERIMENT}" >&2
exec bash scripts/launch.sh "$EXPERIMENT" "${overrides[@]}" "$@"
