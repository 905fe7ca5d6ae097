"""End to end on the CPU backend: verl 0.9.1's stock V1 trainer (``verl.trainer.main_ppo``), 2 steps each.

Run alone with ``pytest -m e2e tests/cpu``; each run takes about 2 minutes on 2 cores. Metrics are read from verl's
console logger (``trainer.logger=[console]``).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def _assert_ok(run) -> None:
    assert run.returncode == 0, run.log[-6000:]


def test_grpo_two_steps_learns(tmp_path: Path, main_ppo) -> None:
    # 16 prompts a step: with 4 (the demo's batch) every group came out all-correct or all-wrong at one step of a CI
    # run (about 0.55**4 = 9 % per step on this policy); with 16 that chance is 0.55**16 < 1e-4
    run = main_ppo(
        tmp_path,
        "data.train_batch_size=16",
        "actor_rollout_ref.actor.ppo_mini_batch_size=16",
        "trainer.total_training_steps=2",
        "trainer.save_freq=-1",
    )
    _assert_ok(run)
    assert sorted(run.steps) == [1, 2]
    for step, m in run.steps.items():
        # GRPO advantages are non-zero (the warmed-up policy solves some prompts and fails others)
        assert m["critic/advantages/max"] > 0.1 and m["critic/advantages/min"] < -0.1, (step, m)
        assert 0.0 < m["critic/score/mean"] < 1.0
        assert math.isfinite(m["actor/grad_norm"]) and m["actor/grad_norm"] > 0
        # the rollout sampled with the actor's current weights: per-token prob gap is numerical noise
        assert m["training/rollout_probs_diff_mean"] < 1e-4, m["training/rollout_probs_diff_mean"]
        assert m["response_length/mean"] > 0
    # the policy moved away from the reference after the first update (KL loss starts at exactly 0)
    assert run.steps[1]["actor/kl_loss"] == 0.0
    assert run.steps[2]["actor/kl_loss"] > 0.0


def test_gae_with_critic_two_steps(tmp_path: Path, main_ppo) -> None:
    """verl's value-model TrainingWorker (the critic) trains on CPU: the piece PCL's prompt-value worker reuses."""
    run = main_ppo(
        tmp_path,
        "algorithm.adv_estimator=gae",
        "critic.enable=true",
        "critic.ppo_micro_batch_size_per_gpu=16",
        "critic.optim.lr=1e-4",
        "trainer.total_training_steps=2",
        "trainer.save_freq=-1",
    )
    _assert_ok(run)
    assert sorted(run.steps) == [1, 2]
    for m in run.steps.values():
        assert math.isfinite(m["critic/vf_loss"]) and m["critic/vf_loss"] > 0
        assert math.isfinite(m["critic/grad_norm"]) and m["critic/grad_norm"] > 0
        assert m["critic/advantages/max"] > m["critic/advantages/min"]
    assert run.steps[1]["critic/vf_loss"] != run.steps[2]["critic/vf_loss"]


def test_checkpoint_then_resume(tmp_path: Path, main_ppo) -> None:
    ckpt = tmp_path / "checkpoints"
    first = main_ppo(tmp_path, "trainer.total_training_steps=1", "trainer.save_freq=1")
    _assert_ok(first)
    assert (ckpt / "latest_checkpointed_iteration.txt").read_text().strip() == "1"
    assert (ckpt / "global_step_1" / "actor").is_dir() and (ckpt / "global_step_1" / "data.pt").is_file()

    second = main_ppo(tmp_path, "trainer.total_training_steps=2", "trainer.save_freq=1", "trainer.resume_mode=auto")
    _assert_ok(second)
    assert sorted(second.steps) == [2], "the resumed run must start at step 2, not redo step 1"
    assert "global_step_1" in second.log  # verl logs the checkpoint it resumes from
    assert (ckpt / "latest_checkpointed_iteration.txt").read_text().strip() == "2"
