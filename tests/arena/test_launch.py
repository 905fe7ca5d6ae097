"""The arena's real-mode commands (and one tiny CPU run of 5 curricula, e2e) and cluster-mode commands (dry-run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from verl_ext.arena.launch import cluster_commands, config_for, real_refusal, real_runs, row_budget_steps

REPO = Path(__file__).resolve().parents[2]


def test_entry_points_and_refusals():
    assert config_for("pcl", REPO) == "pcl" and config_for("cures_online", REPO) == "cures"
    assert config_for("mopps", REPO) == "grpo" and config_for("uniform", REPO) == "grpo"
    assert "pilot_path" in real_refusal("gvm") and "release_table" in real_refusal("cures_release")
    assert real_refusal("prefilter") and real_refusal("knapsack") is None


def test_real_runs_share_every_setting_but_the_curriculum(tmp_path):
    runs = real_runs(["uniform", "sec", "pcl"], [1, 2], repo=REPO, out_dir=tmp_path, python="py", policy="P",
                     train="T", val="V", steps=3, batch_size=4, n=4)  # fmt: skip
    assert [r.label for r in runs] == ["uniform@1", "sec@1", "pcl@1", "uniform@2", "sec@2", "pcl@2"]
    common = set(runs[0].argv[4:]) - {"curriculum=uniform", "seed=1"}  # after: python -m recipes.main --config-name
    common = {a for a in common if str(tmp_path) not in a}
    for run in runs:
        assert common <= set(run.argv), run.label
        assert "+platform=cpu" in run.argv and "trainer.total_training_steps=3" in run.argv
    assert "curriculum.params.arm_key=extra_info.difficulty" in runs[1].argv  # the synthetic task has no level
    assert [r.argv[2:4] for r in runs[:3]] == [["recipes.main", f"--config-name={c}"] for c in ("grpo", "grpo", "pcl")]


def test_row_budget_steps_by_hand():
    assert row_budget_steps(512, 16, 4096, 2e10) == 596  # 2e10 // 33_554_432
    with pytest.raises(ValueError, match="below one step"):
        row_budget_steps(512, 16, 4096, 1e6)


def test_cluster_commands_dry_run_through_launch(tmp_path):
    rows = ["pcl_table1_math/qwen3-8b-base_pcl", "pcl_table1_math/qwen3-8b-base_ds"]
    lines = cluster_commands(rows, 2e10, REPO)
    assert lines[0].startswith("scripts/launch.sh pcl_table1_math/qwen3-8b-base_pcl trainer.total_training_steps=596")
    assert "m=512 n=16 L=4096" in lines[0] and "qwen3-8b-base_ds" in lines[1]
    with pytest.raises(ValueError, match="no experiment config"):
        cluster_commands(["nope/row"], 2e10, REPO)
    # the script's dry run composes and validates each emitted launch through scripts/launch.sh (one row: ~1 min)
    out = subprocess.run(
        [sys.executable, "scripts/arena.py", "--mode", "cluster", "--rows", rows[0], "--out-dir", str(tmp_path)],
        cwd=REPO, env=dict(os.environ, DRY_RUN="1"), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"ok  DRY_RUN=1 scripts/launch.sh {rows[0]} trainer.total_training_steps=596" in out.stdout
    assert (tmp_path / "cluster_commands.sh").read_text().count("scripts/launch.sh") == 1


@pytest.mark.e2e
@pytest.mark.timeout(3600)  # five CPU trainer runs, 1-3 min each uncontended, far more on a loaded machine
def test_real_mode_trains_five_curricula_and_tabulates(tmp_path):
    names = ["uniform", "mopps", "knapsack", "sec", "reinforce_ada"]
    out = subprocess.run(
        [sys.executable, "scripts/arena.py", "--mode", "real", "--curricula", ",".join(names), "--seeds", "1",
         "--steps", "2", "--batch-size", "4", "-n", "4", "--out-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    table = pd.read_csv(tmp_path / "demo_table.csv")
    assert sorted(table["method"]) == sorted(f"{n}@1" for n in names)
    assert (table["steps"] == 2).all() and (table["rollouts"] >= 2 * 4 * 4).all()
    assert table.loc[table["method"] == "uniform@1", "rollouts"].item() == 32  # 2 steps x m x n
