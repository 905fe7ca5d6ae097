#!/usr/bin/env bash
# CPU demo: verl 0.9.1's stock V1 GRPO trainer (python -m verl.trainer.main_ppo) on the synthetic arithmetic task
# with a tiny warmed-up policy -- STEPS steps with a checkpoint every SAVE_FREQ steps, then a resume from that
# checkpoint for RESUME_STEPS more steps. Console metrics; the whole run takes a few minutes on 2 cores.
#   bash scripts/demo_grpo.sh                 # build/reuse assets, train, resume
#   DRY_RUN=1 bash scripts/demo_grpo.sh       # compose and print the config only
#   bash scripts/demo_grpo.sh trainer.logger='[console,tensorboard]'   # extra Hydra overrides go to both runs
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON=${PYTHON:-${REPO_DIR}/.venv/bin/python}
OUT_DIR=${OUT_DIR:-${REPO_DIR}/outputs/demo_grpo}
STEPS=${STEPS:-2}
RESUME_STEPS=${RESUME_STEPS:-2}
SAVE_FREQ=${SAVE_FREQ:-${STEPS}}
DRY_RUN=${DRY_RUN:-0}
export VERL_EXT_CACHE=${VERL_EXT_CACHE:-${REPO_DIR}/data/cache}
export HF_HUB_OFFLINE=1 RAY_DEDUP_LOGS=0 PYTHONUNBUFFERED=1

cd "${REPO_DIR}"
echo "[demo] assets (cached under ${VERL_EXT_CACHE}; the first build trains the tiny policy, ~10 min on 2 cores)"
ASSETS=$("${PYTHON}" scripts/make_tiny_assets.py --shell | tail -n 3)
eval "${ASSETS}"  # POLICY=, TRAIN=, VAL= (shell-quoted paths)

COMMON=(
  --config-path "${REPO_DIR}/configs" --config-name demo_grpo
  +platform=cpu
  actor_rollout_ref.model.path="${POLICY}"
  data.train_files="${TRAIN}" data.val_files="${VAL}"
  trainer.default_local_dir="${OUT_DIR}/checkpoints"
  trainer.save_freq="${SAVE_FREQ}"
)

if [[ "${DRY_RUN}" == "1" ]]; then
  exec "${PYTHON}" -m verl.trainer.main_ppo "${COMMON[@]}" trainer.total_training_steps="${STEPS}" "$@" --cfg job
fi

rm -rf "${OUT_DIR}"
mkdir -p "${OUT_DIR}"
start=$(date +%s)
echo "[demo] phase 1: train ${STEPS} steps, checkpoint every ${SAVE_FREQ}"
"${PYTHON}" -m verl.trainer.main_ppo "${COMMON[@]}" trainer.total_training_steps="${STEPS}" "$@" \
  2>&1 | tee "${OUT_DIR}/train.log"
mid=$(date +%s)
echo "[demo] checkpoint: $(cat "${OUT_DIR}/checkpoints/latest_checkpointed_iteration.txt") -> resuming"
TOTAL=$((STEPS + RESUME_STEPS))
"${PYTHON}" -m verl.trainer.main_ppo "${COMMON[@]}" trainer.total_training_steps="${TOTAL}" trainer.resume_mode=auto "$@" \
  2>&1 | tee "${OUT_DIR}/resume.log"
end=$(date +%s)
echo "[demo] done: train $((mid - start)) s, resume $((end - mid)) s, total $((end - start)) s; logs in ${OUT_DIR}"
