"""Every launch and run script parses (bash -n) and dry-runs (DRY_RUN=1: compose, validate and print; no Ray/GPU).

A dry run makes every check a real start makes except the file checks (verl_ext.trainer.preflight): a bad override
exits 2 naming the key and the valid values.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(
    [
        ROOT / "scripts" / "launch.sh",
        ROOT / "scripts" / "demo.sh",
        *(ROOT / "scripts" / "ray_cluster").glob("*.sh"),
        ROOT / "scripts" / "slurm" / "train.sbatch",
        *(ROOT / "recipes").glob("*/run_*.sh"),
    ]  # fmt: skip
)
# scripts that take the experiment as their first argument
EXPERIMENT_ARG = {
    "scripts/launch.sh": "pcl_table13_deepscaler/qwen3-8b-base_pcl",
    "scripts/ray_cluster/submit.sh": "cures_table1/qwen2.5-math-1.5b_cures-grpo-paper",
    "scripts/slurm/train.sbatch": "cures_table1/qwen2.5-math-1.5b_gvm-rpp",
}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SEED", "NNODES", "GPUS_PER_NODE", "FORCE")}
    env.update(DRY_RUN="1", HEAD_ADDRESS="127.0.0.1:6379", **extra)
    return env


@pytest.mark.parametrize("script", SCRIPTS, ids=_rel)
def test_bash_syntax(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_launch_trains_through_the_one_entry_with_the_rows_recipe() -> None:
    """launch.sh maps the experiment's ``run.recipe`` to ``recipes.main --config-name=<recipe>`` (no per-recipe
    module): a pre-filter row (whose recipe folder has no trainer entry) dry-runs through it with its own config."""
    proc = subprocess.run(["bash", "scripts/launch.sh", "pcl_table1_math/qwen3-4b-base_prefilter"], cwd=ROOT,
                          env=_env(SEED="5"), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    entry = r"^# dry run: \S+ -m recipes\.main --config-name=prefilter experiment=pcl_table1_math/"
    assert re.search(entry, proc.stderr, re.M), proc.stderr[-2000:]
    assert "\n  recipe: prefilter\n" in proc.stdout


def test_launch_refuses_a_recipe_without_a_config() -> None:
    proc = subprocess.run(["bash", "scripts/launch.sh", "recipe:nope"], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2 and "recipe 'nope' has no primary config configs/nope.yaml" in proc.stderr


def test_launch_rejects_unknown_experiment() -> None:
    proc = subprocess.run(["bash", "scripts/launch.sh", "no_such_table/row"], cwd=ROOT, env=_env(),
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2 and "no experiment config configs/experiment/no_such_table/row.yaml" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=_rel)
def test_dry_run(script: Path) -> None:
    args = [EXPERIMENT_ARG[_rel(script)]] if _rel(script) in EXPERIMENT_ARG else []
    proc = subprocess.run(["bash", str(script), *args], cwd=ROOT, env=_env(SEED="5"), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    if script.parent.name == "ray_cluster" and script.name.startswith("start_"):
        assert re.match(r"dry run: \S*/bin/ray start ", proc.stdout), proc.stdout
    else:
        # Hydra printed the composed config: the seed reached the run name, the recipe is set
        assert "\n  recipe: " in proc.stdout and "_s5\n" in proc.stdout, proc.stdout[-2000:]


def test_dry_run_refuses_a_bad_strategy_parameter() -> None:
    """The issue's command: a dry run with ``curriculum.params.k=0`` must fail, not print a config."""
    proc = subprocess.run(["bash", "scripts/launch.sh", "pcl_table1_math/qwen3-8b-base_ds", "curriculum.params.k=0"],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 2, proc.stdout[-1000:]
    assert "curriculum.k must be an integer >= 1" in proc.stderr and "got 0" in proc.stderr
    assert "\n  recipe: " not in proc.stdout


# (recipe, overrides, fragments the error must contain); one interpreter runs them all (imports dominate)
BAD_OVERRIDES = [
    ("pcl", ["experiment=pcl_table1_math/qwen3-4b-base_pcl", "curriculum.params.tau=1.5"], ["tau"]),
    ("pcl", ["experiment=pcl_table1_math/qwen3-4b-base_pcl", "+curriculum.value_model.head_activation=relu"],
     ["curriculum.value_model.head_activation='relu'", "valid: "]),
    ("grpo", ["experiment=pcl_table4_math/qwen3-1.7b-base_m64_n16", "curriculum.name=nope"],
     ["curriculum.name='nope' is not a registered curriculum", "valid: ", "uniform"]),
    ("speed", ["experiment=pcl_table1_math/qwen3-4b-base_speed", "+curriculum.params.bogus=1"],
     ["has no option(s) ['bogus']", "valid options: "]),
    ("cures", ["experiment=cures_table1/qwen2.5-math-7b_cures-grpo", "trainer.v1.trainer_mode=async"],
     ["trainer.v1.trainer_mode='async'", "'sync'"]),
    ("grpo", ["experiment=pcl_table4_math/qwen3-1.7b-base_m64_n16", "data.dataloader_num_workers=2"],
     ["data.dataloader_num_workers must be 0"]),
    ("grpo", ["experiment=pcl_table4_math/qwen3-1.7b-base_m64_n16", "no_such_key=1"], ["no_such_key"]),
]  # fmt: skip
GOOD = [("greso", ["experiment=pcl_table1_math/llama3.2-3b-it_greso"]),
        ("probe", ["experiment=pcl_table6_px/qwen3-4b-base_px1_m128_n32"]),
        ("gvm", ["experiment=cures_table1/qwen2.5-math-1.5b_gvm-rpp"])]  # fmt: skip

_RUN_CASES = """
import contextlib, io, json, sys
from verl_ext.trainer.preflight import main
out = []
for name, overrides, dry in json.loads(sys.argv[1]):
    err, std = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        rc = main(["--config-dir", "configs", "--config-name", name, *(["--dry-run"] if dry else []), *overrides])
    out.append({"rc": rc, "stderr": err.getvalue(), "stdout": std.getvalue()})
print("RESULT" + json.dumps(out))
"""


def _preflight(cases: list[tuple[str, list[str], bool]], **env: str) -> list[dict[str, object]]:
    proc = subprocess.run([sys.executable, "-c", _RUN_CASES, json.dumps(cases)], cwd=ROOT, env=_env(**env),
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.split("RESULT", 1)[1])


def test_dry_run_checks_on_rows_and_bad_overrides() -> None:
    cases = [(r, o, True) for r, o, _ in BAD_OVERRIDES] + [(r, o, True) for r, o in GOOD]
    results = _preflight(cases)
    for (_, overrides, fragments), result in zip(BAD_OVERRIDES, results):
        assert result["rc"] == 2 and result["stdout"] == "", (overrides, result)
        for fragment in fragments:
            assert fragment in result["stderr"], (overrides, fragment, result["stderr"])
    for (recipe, overrides), result in zip(GOOD, results[len(BAD_OVERRIDES) :]):
        assert result["rc"] == 0, (overrides, result["stderr"])
        assert f"\n  recipe: {recipe}\n" in str(result["stdout"])


def test_real_start_checks_the_files_it_reads(tmp_path: Path) -> None:
    """Without --dry-run the same rows fail on missing data and weights, naming each key and path."""
    results = _preflight([("pcl", ["experiment=pcl_table13_deepscaler/qwen3-4b-base_pcl"], False)],
                         DATA_DIR=str(tmp_path / "data"), MODEL_DIR=str(tmp_path / "models"))  # fmt: skip
    err = str(results[0]["stderr"])
    assert results[0]["rc"] == 2
    assert f"actor_rollout_ref.model.path: {tmp_path}/models/Qwen/Qwen3-4B-Base" in err
    assert f"data.train_files: {tmp_path}/data/qwen3_base/deepscaler/train.parquet" in err
    assert f"data.val_files: {tmp_path}/data/qwen3_base/aime25/test.parquet" in err
    assert "curriculum.value_model.model.path" in err and "9 path(s) the run reads do not exist" in err
