#!/usr/bin/env bash
# Syntax-check (bash -n) and dry-run (DRY_RUN=1: compose, validate and print the config, no Ray, no GPU) every launch
# and run script, then run the static checks of every experiment (scripts/check_rows.py: engine and attention pinned
# in the row's lock, lengths, GPU memory estimate), so renamed verl keys, missing experiments or rows that cannot fit
# fail here instead of after a GPU queue. Called by `make check-scripts`.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

LOG_DIR=${LOG_DIR:-$(mktemp -d)}
DRY_ENV=(DRY_RUN=1 HEAD_ADDRESS=127.0.0.1:6379)

mapfile -t scripts < <(ls scripts/launch.sh scripts/demo.sh scripts/ray_cluster/*.sh scripts/slurm/*.sbatch recipes/*/run_*.sh)
failed=()

for script in "${scripts[@]}"; do
  if ! bash -n "$script"; then
    failed+=("$script (bash -n)")
  fi
done

# one dry run per script; launch-type scripts get one experiment argument
dry_args() {
  case $1 in
    scripts/launch.sh) echo "pcl_table13_deepscaler/qwen3-8b-base_pcl" ;;
    scripts/ray_cluster/submit.sh | scripts/slurm/train.sbatch) echo "cures_table1/qwen2.5-math-1.5b_cures-grpo-paper" ;;
    *) echo "" ;;
  esac
}

for script in "${scripts[@]}"; do
  log="$LOG_DIR/$(echo "$script" | tr '/' '_').log"
  # shellcheck disable=SC2046
  if env "${DRY_ENV[@]}" bash "$script" $(dry_args "$script") >"$log" 2>&1; then
    if [[ $script == scripts/ray_cluster/start_* ]] || grep -q "^  recipe: " "$log"; then
      echo "ok      $script"
    else
      echo "FAILED  $script (no composed config in the output; see $log)"
      failed+=("$script")
    fi
  else
    echo "FAILED  $script (exit code $?; see $log)"
    failed+=("$script")
  fi
done

PYTHON=${PYTHON:-.venv/bin/python}
if "$PYTHON" scripts/check_rows.py >"$LOG_DIR/check_rows.md" 2>"$LOG_DIR/check_rows.err"; then
  echo "ok      scripts/check_rows.py ($(tail -n 1 "$LOG_DIR/check_rows.md"))"
else
  echo "FAILED  scripts/check_rows.py (see $LOG_DIR/check_rows.md and $LOG_DIR/check_rows.err)"
  failed+=("scripts/check_rows.py")
fi

# the curriculum arena's plan: every registered curriculum resolved against its config group (docs/arena.md)
if "$PYTHON" scripts/arena.py --dry-run --out-dir "$LOG_DIR/arena" >"$LOG_DIR/arena.log" 2>&1; then
  echo "ok      scripts/arena.py (dry run)"
else
  echo "FAILED  scripts/arena.py (dry run; see $LOG_DIR/arena.log)"
  failed+=("scripts/arena.py")
fi

if [[ ${#failed[@]} -gt 0 ]]; then
  printf 'check-scripts: %d failed:\n' "${#failed[@]}" >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "check-scripts: ${#scripts[@]} scripts pass bash -n and DRY_RUN=1, every experiment passes check_rows (logs in $LOG_DIR)"
