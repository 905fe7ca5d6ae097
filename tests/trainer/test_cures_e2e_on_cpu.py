"""CurES (paper mode) through our own entry point on the CPU backend: 2 steps, curriculum metrics, curriculum state."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_cures_two_steps_through_main_cures(tmp_path):
    from verl_ext.testing.assets import build_demo_assets

    assets = build_demo_assets()
    ckpt = tmp_path / "ckpt"
    cmd = [
        sys.executable, "-m", "recipes.cures.main_cures", "+platform=cpu",
        f"actor_rollout_ref.model.path={assets.policy}",
        f"data.train_files={assets.train}", f"data.val_files={assets.val}",
        "data.train_batch_size=4", "data.max_prompt_length=64", "data.max_response_length=24",
        "actor_rollout_ref.rollout.n=4", "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "trainer.total_training_steps=2", "trainer.total_epochs=100", "trainer.val_before_train=false",
        "trainer.test_freq=-1", "trainer.save_freq=2", "trainer.logger=[console]",
        f"trainer.default_local_dir={ckpt}",
        "curriculum.params.n_min=2", "curriculum.params.pilot_n=2", "curriculum.params.n_max=8",
    ]  # fmt: skip
    env = dict(os.environ, HF_HUB_OFFLINE="1", RAY_DEDUP_LOGS="0")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    steps = re.findall(r"step:(\d+) - .*", log)
    assert steps[-1] == "2"
    for name in ("cures/select_ms", "cures/rho_entropy", "curriculum/effective_ratio", "time/train_gen_hours"):
        assert f"{name}:" in log, name
    state = torch.load(ckpt / "global_step_2" / "curriculum_state.pt", weights_only=False)
    assert state["global_steps"] == 2 and state["fingerprint"]["name"] == "cures"
    assert (ckpt / "latest_checkpointed_iteration.txt").read_text().strip() == "2"
