#!/usr/bin/env bash
# CPU demo: train the tiny warmed-up policy on the synthetic arithmetic task with several curricula through our
# recipes' entry points (python -m recipes.<method>.main_<method>, verl 0.9.1's V1 trainer, +platform=cpu), the same
# number of steps and the same optimisation settings each, then print a comparison table and write a plot.
#   bash scripts/demo.sh                                  # grpo (uniform), cures (paper mode), pcl; DEMO_STEPS each
#   DEMO_METHODS="grpo cures" DEMO_STEPS=10 bash scripts/demo.sh
#   DRY_RUN=1 bash scripts/demo.sh                        # compose and print each method's config, then exit
#   bash scripts/demo.sh actor_rollout_ref.actor.optim.lr=5e-5   # extra Hydra overrides go to every method
# Knobs (environment): OUT_DIR, DEMO_STEPS, DEMO_METHODS, DEMO_BATCH (prompts per step), DEMO_N (responses per
# prompt; CurES allocates the same budget DEMO_BATCH*DEMO_N unevenly), DEMO_VAL_FREQ, DEMO_BASELINE
# (configs/baseline/*), SEED, PYTHON, VERL_EXT_CACHE. Metrics come from verl's own `file` tracking backend
# (trainer.logger=[console,file]) at <OUT_DIR>/<method>/metrics.jsonl; scripts/demo_report.py makes the table.
# Outputs: <OUT_DIR>/demo_table.{md,csv}, <OUT_DIR>/demo_metrics.png, <OUT_DIR>/<method>/{train.log,metrics.jsonl}.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON=${PYTHON:-${REPO_DIR}/.venv/bin/python}
OUT_DIR=${OUT_DIR:-${REPO_DIR}/outputs/demo}
# 30 steps x 3 methods: ~15 min on 2 cores under heavy contention (40 took 17 min at load ~13; ~100-160 s start-up
# per method, 3.3-5.7 s a step there), well under it on idle cores
DEMO_STEPS=${DEMO_STEPS:-30}
DEMO_METHODS=${DEMO_METHODS:-"grpo cures pcl"}
DEMO_BATCH=${DEMO_BATCH:-16}
DEMO_N=${DEMO_N:-4}
# greedy validation on the 64 held-out prompts before training and every DEMO_VAL_FREQ steps (~3 s each)
DEMO_VAL_FREQ=${DEMO_VAL_FREQ:-$(((DEMO_STEPS + 3) / 4))}
# PCL's on-policy GRPO for every method: no KL term, so no reference model to run on the two cores
DEMO_BASELINE=${DEMO_BASELINE:-grpo_pcl}
SEED=${SEED:-1}
DRY_RUN=${DRY_RUN:-0}
export VERL_EXT_CACHE=${VERL_EXT_CACHE:-${REPO_DIR}/data/cache}
export HF_HUB_OFFLINE=1 RAY_DEDUP_LOGS=0 PYTHONUNBUFFERED=1

# verl's file logger runs inside a Ray actor: hand it an absolute path (a relative OUT_DIR is the caller's)
[[ "${OUT_DIR}" == /* ]] || OUT_DIR="${PWD}/${OUT_DIR}"
cd "${REPO_DIR}"

# method -> entry point module and the method's own settings (everything else is shared below)
entry() {
  case $1 in
    grpo | cures | pcl) echo "recipes.$1.main_$1" ;;
    *) echo "unknown method '$1' in DEMO_METHODS (known: grpo cures pcl)" >&2; return 2 ;;
  esac
}
method_overrides() {
  case $1 in
    grpo) ;;  # uniform sampling, DEMO_N responses for each prompt
    # paper mode (configs/curriculum/cures.yaml); floors and ceiling sized for DEMO_N = 4 as in the CurES e2e test
    cures) echo "curriculum.params.n_min=2 curriculum.params.pilot_n=2 curriculum.params.n_max=$((DEMO_N * 2))" ;;
    # k = 4 candidates per trained prompt scored by the value model, tau = 0.5 (configs/curriculum/pcl.yaml). The value
    # model learns at the policy's lr here: at the paper's 1e-6 (sized for 1.7B-8B models) AdamW moves each of the
    # tiny model's parameters by <= 1e-6 a step and V never leaves its start (docs/pcl.md §10)
    pcl) echo "curriculum.value_model.optim.lr=1e-4" ;;
  esac
}

if [[ "${DRY_RUN}" == "1" ]]; then
  # composing needs no assets: placeholder paths keep a dry run from building them (~10 min the first time)
  POLICY=${VERL_EXT_CACHE}/dry-run/policy
  TRAIN=${VERL_EXT_CACHE}/dry-run/train.parquet
  VAL=${VERL_EXT_CACHE}/dry-run/val.parquet
else
  echo "[demo] assets (cached under ${VERL_EXT_CACHE}; the first build trains the tiny policy, ~10 min on 2 cores)"
  ASSETS=$("${PYTHON}" scripts/make_tiny_assets.py --shell | tail -n 3)
  eval "${ASSETS}"  # POLICY=, TRAIN=, VAL= (shell-quoted paths)
fi

# Shared by every method, so the curriculum is the only difference (the model/dataset groups of each recipe's
# config are neutralised: chat template, lr and lengths are set here).
SHARED=(
  +platform=cpu
  "seed=${SEED}"
  "baseline=${DEMO_BASELINE}"
  run.model=tiny-qwen2 run.dataset=arith
  "actor_rollout_ref.model.path=${POLICY}"
  actor_rollout_ref.model.custom_chat_template=null
  "data.train_files=${TRAIN}" "data.val_files=${VAL}"
  "data.train_batch_size=${DEMO_BATCH}" data.max_prompt_length=64 data.max_response_length=24
  "actor_rollout_ref.rollout.n=${DEMO_N}"
  "actor_rollout_ref.actor.ppo_mini_batch_size=${DEMO_BATCH}"
  actor_rollout_ref.actor.optim.lr=1e-4
  # greedy validation, the same for every method (the recipes' dataset groups set different decoding)
  actor_rollout_ref.rollout.val_kwargs.do_sample=false actor_rollout_ref.rollout.val_kwargs.temperature=0
  actor_rollout_ref.rollout.val_kwargs.top_p=1.0 actor_rollout_ref.rollout.val_kwargs.top_k=-1
  "trainer.total_training_steps=${DEMO_STEPS}" trainer.total_epochs=100
  trainer.val_before_train=true "trainer.test_freq=${DEMO_VAL_FREQ}" trainer.save_freq=-1
  trainer.project_name=verl_ext_demo
  "trainer.logger=[console,file]"
)

methods=()
for method in ${DEMO_METHODS}; do
  entry "${method}" >/dev/null
  methods+=("${method}")
done
if [[ ${#methods[@]} -eq 0 ]]; then
  echo "DEMO_METHODS is empty; e.g. DEMO_METHODS=\"grpo cures\"" >&2
  exit 2
fi

# all overrides of one method, in order: shared, the method's own, per-run paths, then the caller's (last wins)
overrides_for() {
  local method=$1 dir=${OUT_DIR}/$1
  local own
  read -r -a own <<<"$(method_overrides "${method}")"
  printf '%s\n' "${SHARED[@]}" ${own[@]+"${own[@]}"} \
    "trainer.default_local_dir=${dir}/checkpoints" \
    "++ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH=${dir}/metrics.jsonl"
}

if [[ "${DRY_RUN}" == "1" ]]; then
  for method in "${methods[@]}"; do
    mapfile -t ovr < <(overrides_for "${method}")
    echo "# dry run (${method}): ${PYTHON} -m $(entry "${method}") ${ovr[*]} $* --cfg job --resolve"
    "${PYTHON}" -m "$(entry "${method}")" "${ovr[@]}" "$@" --cfg job --resolve
  done
  exit 0
fi

echo "[demo] methods: ${methods[*]}; ${DEMO_STEPS} steps each, ${DEMO_BATCH} prompts x ${DEMO_N} responses per step"
runs=()
failed=()
start=$(date +%s)
for method in "${methods[@]}"; do
  dir=${OUT_DIR}/${method}
  rm -rf "${dir}"
  mkdir -p "${dir}"
  mapfile -t ovr < <(overrides_for "${method}")
  echo "[demo] ${method}: python -m $(entry "${method}") (log ${dir}/train.log)"
  t0=$(date +%s)
  # a failing method is reported and skipped, so the others still make the table. verl's Tracking lives in the
  # TaskRunner actor: the logger path reaches it through ray_init.runtime_env (above); the variable here covers a
  # driver-side logger too
  if VERL_FILE_LOGGER_PATH="${dir}/metrics.jsonl" "${PYTHON}" -m "$(entry "${method}")" "${ovr[@]}" "$@" \
    >"${dir}/train.log" 2>&1; then
    echo $(($(date +%s) - t0)) >"${dir}/wall_seconds.txt"
    echo "[demo] ${method}: done in $(cat "${dir}/wall_seconds.txt") s; $(wc -l <"${dir}/metrics.jsonl") metric records"
    runs+=("--run" "${method}=${dir}/metrics.jsonl")
  else
    echo "[demo] ${method}: FAILED after $(($(date +%s) - t0)) s; last lines of ${dir}/train.log:" >&2
    tail -n 20 "${dir}/train.log" >&2
    failed+=("${method}")
  fi
done

if [[ ${#runs[@]} -gt 0 ]]; then
  "${PYTHON}" scripts/demo_report.py "${runs[@]}" --out-dir "${OUT_DIR}"
fi
echo "[demo] total $(($(date +%s) - start)) s (assets excluded); outputs in ${OUT_DIR}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "[demo] failed: ${failed[*]} (see <OUT_DIR>/<method>/train.log)" >&2
  exit 1
fi
