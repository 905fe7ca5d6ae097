#!/usr/bin/env bash
# CPU demo: train the tiny warmed-up policy on the synthetic arithmetic task with several curricula through our
# recipes' one entry point (python -m recipes.main --config-name=<method>, verl 0.9.1's V1 trainer,
# +platform=cpu), the same number of steps and the same optimisation settings each, over several seeds; then print
# the per-run table and the mean ± sd over seeds (scripts/demo_report.py) and write a plot. Each step prints one
# progress line.
#   bash scripts/demo.sh                                  # grpo (uniform), cures (cures_online), pcl; seed 1
#   DEMO_SEEDS="1 2 3" bash scripts/demo.sh               # the mean ± sd table over three seeds (9 runs)
#   DEMO_METHODS="grpo cures" DEMO_STEPS=10 DEMO_SEEDS=1 bash scripts/demo.sh
#   DRY_RUN=1 bash scripts/demo.sh                        # compose and print each method's config, then exit
#   bash scripts/demo.sh actor_rollout_ref.actor.optim.lr=5e-5   # extra Hydra overrides go to every method
# Knobs (environment): OUT_DIR, DEMO_STEPS, DEMO_METHODS, DEMO_SEEDS (SEED alone = one seed), DEMO_BATCH (prompts
# per step), DEMO_N (responses per prompt; CurES allocates the same budget DEMO_BATCH*DEMO_N unevenly), DEMO_VAL_SIZE
# (held-out prompts), DEMO_POOL_LEVELS (difficulty levels of the RL pool and the held-out split), DEMO_POOL_SIZE (RL
# pool prompts), DEMO_ASSET_ARGS (flags of scripts/make_tiny_assets.py: the policy's spec), DEMO_VAL_FREQ, DEMO_LR,
# DEMO_VALUE_LR (PCL's value-model lr), DEMO_CURES (cures_online | cures_algorithm1), DEMO_BASELINE
# (configs/baseline/*), PYTHON, VERL_EXT_CACHE. Metrics come from verl's own `file` tracking backend
# (trainer.logger=[console,file]) at <OUT_DIR>/<method>/seed<k>/metrics.jsonl; scripts/demo_report.py makes the tables.
# Outputs: <OUT_DIR>/demo_table.{md,csv} (per run), <OUT_DIR>/demo_seeds.{md,csv} (mean ± sd over seeds),
# <OUT_DIR>/demo_val_curve.csv, <OUT_DIR>/demo_metrics.png, <OUT_DIR>/<method>/seed<k>/{train.log,metrics.jsonl}.
# Why these settings (lr, steps, pool, validation size, PCL's value lr): docs/demo.md.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON=${PYTHON:-${REPO_DIR}/.venv/bin/python}
OUT_DIR=${OUT_DIR:-${REPO_DIR}/outputs/demo}
# step counts, lr and validation size: measured choices, docs/demo.md
DEMO_STEPS=${DEMO_STEPS:-30}
DEMO_METHODS=${DEMO_METHODS:-"grpo cures pcl"}
# one seed by default (three runs, the first thing a new user runs); DEMO_SEEDS="1 2 3" for the table over seeds
DEMO_SEEDS=${DEMO_SEEDS:-${SEED:-1}}
DEMO_BATCH=${DEMO_BATCH:-16}
DEMO_N=${DEMO_N:-4}
DEMO_LR=${DEMO_LR:-1e-4}
DEMO_VALUE_LR=${DEMO_VALUE_LR:-1e-3}
# greedy validation on DEMO_VAL_SIZE prompts held out from the pool and the warm-up, before training and every
# DEMO_VAL_FREQ steps
DEMO_VAL_SIZE=${DEMO_VAL_SIZE:-256}
# the RL pool: DEMO_POOL_SIZE prompts from DEMO_POOL_LEVELS, drawn after the warm-up like the held-out split (same
# levels, balanced): 128 prompts so that 30 steps x 16 prompts visit each ~4 times and a curriculum can use what it
# measured
DEMO_POOL_LEVELS=${DEMO_POOL_LEVELS:-0,1,2,3,4,5,6,7}
DEMO_POOL_SIZE=${DEMO_POOL_SIZE:-128}
# flags of scripts/make_tiny_assets.py (the warm-up policy's spec). Default: the demo-only policy whose warm-up targets
# end in an empty box, scored 0, on 60 % of the rows (the behaviour GRPO fixes on every prompt; docs/demo.md);
# DEMO_ASSET_ARGS="" = the test suite's plain policy; e.g. "--hidden-size 256 --intermediate 512" for a wider one
DEMO_ASSET_ARGS=${DEMO_ASSET_ARGS-"--format-defect 0.6"}
DEMO_VAL_FREQ=${DEMO_VAL_FREQ:-$(((DEMO_STEPS + 2) / 3))}
DEMO_CURES=${DEMO_CURES:-cures_online}
# PCL's on-policy GRPO for every method: no KL term, so no reference model to run on the two cores
DEMO_BASELINE=${DEMO_BASELINE:-grpo_pcl}
DRY_RUN=${DRY_RUN:-0}
export VERL_EXT_CACHE=${VERL_EXT_CACHE:-${REPO_DIR}/data/cache}
export HF_HUB_OFFLINE=1 RAY_DEDUP_LOGS=0 PYTHONUNBUFFERED=1

# verl's file logger runs inside a Ray actor: hand it an absolute path (a relative OUT_DIR is the caller's)
[[ "${OUT_DIR}" == /* ]] || OUT_DIR="${PWD}/${OUT_DIR}"
cd "${REPO_DIR}"

# a method is its primary config (configs/<method>.yaml) plus its own settings (everything else is shared below)
check_method() {
  case $1 in
    grpo | cures | pcl) ;;
    *) echo "unknown method '$1' in DEMO_METHODS (known: grpo cures pcl)" >&2; return 2 ;;
  esac
}
method_overrides() {
  case $1 in
    grpo) ;;  # uniform sampling, DEMO_N responses for each prompt
    cures)
      case ${DEMO_CURES} in
        # the streaming variant (configs/curriculum/cures_online.yaml); floors and ceiling sized for DEMO_N = 4
        cures_online) echo "curriculum=cures_online curriculum.params.n_min=2 curriculum.params.pilot_n=2" \
          "curriculum.params.n_max=$((DEMO_N * 2))" ;;
        # the paper's Algorithm 1 (configs/curriculum/cures_algorithm1.yaml) with its own defaults
        cures_algorithm1) echo "curriculum=cures_algorithm1" ;;
        *) echo "DEMO_CURES=${DEMO_CURES}: expected cures_online or cures_algorithm1" >&2; return 2 ;;
      esac ;;
    # k = 4 candidates per trained prompt scored by the value model, tau = 0.5 (configs/curriculum/pcl.yaml). The value
    # model's lr is a demo-scale value: at the paper's 1e-6 (sized for 1.7B-8B models) AdamW moves each of the tiny
    # model's parameters by <= 1e-6 a step and V never leaves its start (docs/pcl.md §10); 1e-3 is the lr at which
    # scripts/bench/demo_pcl_value_screen.py measured the best calibration within 30 steps (docs/demo.md)
    pcl) echo "curriculum.value_model.optim.lr=${DEMO_VALUE_LR}" ;;
  esac
}

if [[ "${DRY_RUN}" == "1" ]]; then
  # composing needs no assets: placeholder paths keep a dry run from building them (~10 min the first time)
  echo "# assets (not built in a dry run): scripts/make_tiny_assets.py --shell --heldout ${DEMO_VAL_SIZE}" \
    "--pool-levels ${DEMO_POOL_LEVELS} --pool-size ${DEMO_POOL_SIZE} ${DEMO_ASSET_ARGS}"
  POLICY=${VERL_EXT_CACHE}/dry-run/policy
  TRAIN=${VERL_EXT_CACHE}/dry-run/train.parquet
  VAL=${VERL_EXT_CACHE}/dry-run/val.parquet
else
  echo "[demo] assets (cached under ${VERL_EXT_CACHE}; the first build trains the tiny policy, ~10 min on 2 cores)"
  read -r -a asset_args <<<"${DEMO_ASSET_ARGS}"
  ASSETS=$("${PYTHON}" scripts/make_tiny_assets.py --shell --heldout "${DEMO_VAL_SIZE}" \
    --pool-levels "${DEMO_POOL_LEVELS}" --pool-size "${DEMO_POOL_SIZE}" ${asset_args[@]+"${asset_args[@]}"} | tail -n 3)
  eval "${ASSETS}"  # POLICY=, TRAIN= (the RL pool), VAL= (the held-out split): shell-quoted paths
fi

# Shared by every method, so the curriculum is the only difference (the model/dataset groups of each recipe's
# config are neutralised: chat template, lr and lengths are set here).
SHARED=(
  +platform=cpu
  "baseline=${DEMO_BASELINE}"
  run.model=tiny-qwen2 run.dataset=arith
  "actor_rollout_ref.model.path=${POLICY}"
  actor_rollout_ref.model.custom_chat_template=null
  "data.train_files=${TRAIN}" "data.val_files=${VAL}"
  "data.train_batch_size=${DEMO_BATCH}" data.max_prompt_length=64 data.max_response_length=24
  "actor_rollout_ref.rollout.n=${DEMO_N}"
  "actor_rollout_ref.actor.ppo_mini_batch_size=${DEMO_BATCH}"
  "actor_rollout_ref.actor.optim.lr=${DEMO_LR}"
  # greedy validation, the same for every method (the recipes' dataset groups set different decoding)
  actor_rollout_ref.rollout.val_kwargs.do_sample=false actor_rollout_ref.rollout.val_kwargs.temperature=0
  actor_rollout_ref.rollout.val_kwargs.top_p=1.0 actor_rollout_ref.rollout.val_kwargs.top_k=-1
  actor_rollout_ref.rollout.val_kwargs.n=1
  "trainer.total_training_steps=${DEMO_STEPS}" trainer.total_epochs=100
  trainer.val_before_train=true "trainer.test_freq=${DEMO_VAL_FREQ}" trainer.save_freq=-1
  trainer.project_name=verl_ext_demo
  "trainer.logger=[console,file]"
)

methods=()
for method in ${DEMO_METHODS}; do
  check_method "${method}"
  method_overrides "${method}" >/dev/null
  methods+=("${method}")
done
read -r -a seeds <<<"${DEMO_SEEDS}"
if [[ ${#methods[@]} -eq 0 || ${#seeds[@]} -eq 0 ]]; then
  echo "DEMO_METHODS and DEMO_SEEDS must not be empty; e.g. DEMO_METHODS=\"grpo cures\" DEMO_SEEDS=\"1 2\"" >&2
  exit 2
fi

# all overrides of one run, in order: shared, the method's own, per-run seed and paths, then the caller's (last wins)
overrides_for() {
  local method=$1 seed=$2 dir=$3
  local own
  read -r -a own <<<"$(method_overrides "${method}")"
  printf '%s\n' "${SHARED[@]}" ${own[@]+"${own[@]}"} "seed=${seed}" \
    "trainer.default_local_dir=${dir}/checkpoints" \
    "++ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH=${dir}/metrics.jsonl"
}

if [[ "${DRY_RUN}" == "1" ]]; then
  for seed in "${seeds[@]}"; do
    for method in "${methods[@]}"; do
      mapfile -t ovr < <(overrides_for "${method}" "${seed}" "${OUT_DIR}/${method}/seed${seed}")
      echo "# dry run (${method}, seed ${seed}): ${PYTHON} -m recipes.main --config-name=${method} ${ovr[*]} $*" \
        "--cfg job --resolve"
      "${PYTHON}" -m recipes.main --config-name="${method}" "${ovr[@]}" "$@" --cfg job --resolve
    done
  done
  exit 0
fi

echo "[demo] methods: ${methods[*]}; seeds: ${seeds[*]}; ${DEMO_STEPS} steps each, ${DEMO_BATCH} prompts x" \
  "${DEMO_N} responses per step, lr ${DEMO_LR} (PCL value model ${DEMO_VALUE_LR});" \
  "pool ${DEMO_POOL_SIZE} prompts of levels ${DEMO_POOL_LEVELS};" \
  "greedy validation on ${DEMO_VAL_SIZE} held-out prompts of the same levels every ${DEMO_VAL_FREQ} steps"
runs=()
failed=()
start=$(date +%s)
for seed in "${seeds[@]}"; do
  for method in "${methods[@]}"; do
    dir=${OUT_DIR}/${method}/seed${seed}
    rm -rf "${dir}"
    mkdir -p "${dir}"
    mapfile -t ovr < <(overrides_for "${method}" "${seed}" "${dir}")
    echo "[demo] ${method} seed ${seed}: python -m recipes.main --config-name=${method} (log ${dir}/train.log;" \
      "start-up ~1-2 min)"
    t0=$(date +%s)
    # a failing run is reported and skipped, so the others still make the table. verl's Tracking lives in the
    # TaskRunner actor: the logger path reaches it through ray_init.runtime_env (above); the variable here covers a
    # driver-side logger too
    VERL_FILE_LOGGER_PATH="${dir}/metrics.jsonl" "${PYTHON}" -m recipes.main --config-name="${method}" "${ovr[@]}" \
      "$@" >"${dir}/train.log" 2>&1 &
    pid=$!
    # one line per logged step (step k/N, s/step, the shared curriculum metrics, validation) until the run exits
    "${PYTHON}" scripts/demo_report.py --follow "${dir}/metrics.jsonl" --steps "${DEMO_STEPS}" \
      --label "${method}@${seed}" --pid "${pid}" &
    follower=$!
    rc=0
    wait "${pid}" || rc=$?
    wait "${follower}" || true
    if [[ ${rc} -eq 0 && -s "${dir}/metrics.jsonl" ]]; then
      echo $(($(date +%s) - t0)) >"${dir}/wall_seconds.txt"
      echo "[demo] ${method} seed ${seed}: done in $(cat "${dir}/wall_seconds.txt") s (load average:" \
        "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a))"
      runs+=("--run" "${method}@${seed}=${dir}/metrics.jsonl")
    else
      echo "[demo] ${method} seed ${seed}: FAILED (exit ${rc}) after $(($(date +%s) - t0)) s; last lines of" \
        "${dir}/train.log:" >&2
      tail -n 20 "${dir}/train.log" >&2
      failed+=("${method}@${seed}")
    fi
  done
done

if [[ ${#runs[@]} -gt 0 ]]; then
  "${PYTHON}" scripts/demo_report.py "${runs[@]}" --out-dir "${OUT_DIR}"
fi
echo "[demo] total $(($(date +%s) - start)) s (assets excluded); load average at the end:" \
  "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a); outputs in ${OUT_DIR}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "[demo] failed: ${failed[*]} (see <OUT_DIR>/<method>/seed<k>/train.log)" >&2
  exit 1
fi
