"""Every launch and run script parses (bash -n) and dry-runs (DRY_RUN=1: Hydra composes and prints, no Ray/GPU)."""

from __future__ import annotations

import os
import subprocess
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


def test_every_recipe_has_a_run_script() -> None:
    recipes = {p.parent.name for p in (ROOT / "recipes").glob("*/main_*.py")}
    with_scripts = {p.parent.name for p in (ROOT / "recipes").glob("*/run_*.sh")}
    assert recipes <= with_scripts, f"recipes without a run_*.sh: {sorted(recipes - with_scripts)}"


@pytest.mark.parametrize("script", SCRIPTS, ids=_rel)
def test_bash_syntax_and_style(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n# "), "first lines: shebang, then a header saying what it runs"
    assert "set -euo pipefail" in text and "DRY_RUN=${DRY_RUN:-0}" in text
    assert "/work/" not in text and "/home/" not in text, "no absolute paths"
    if script.parent.parent.name == "recipes":
        assert '"$@"' in text and "overrides=(" in text


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
        assert proc.stdout.startswith("dry run: ray start")
    else:
        # Hydra printed the composed config: the seed reached the run name, the recipe is set
        assert "\n  recipe: " in proc.stdout and "_s5\n" in proc.stdout, proc.stdout[-2000:]
