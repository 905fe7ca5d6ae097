"""Nested-ReFT end to end on the CPU backend through the entry point (``python -m recipes.main --config-name=grpo
+platform=cpu +nested=r05``), on an 8-layer copy of the demo policy (verl_ext/nested/testing.py):

1. r = 0.5, steps 1-2, a checkpoint each step; 2. the same command resumed to step 3; 3. r = 0 for one step.

Checked: the logged skip sets differ between steps and are the schedule's draws from the top-level seed (so the
resumed step 3 continued the checkpointed RNG); the rollout/actor log-prob gap is far above the r = 0 run's; the IS
weights in the batch the actor's loss reads equal our recomputation min(pi/mu_S, 2) (verl's loss multiplies them:
tests/nested/test_correction.py); training proceeds (finite gradients, three steps).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

from tests.trainer.test_curricula_e2e_on_cpu import _metrics, _run
from verl_ext.nested.schedule import SkipSchedule, SkipScheduleConfig

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3000)]


def _command(ckpt: Path, steps: int, *overrides: str) -> list[str]:
    from verl_ext.nested.testing import build_deep_policy
    from verl_ext.testing.assets import build_demo_assets

    assets = build_demo_assets()
    return [
        sys.executable, "-m", "recipes.main", "--config-name=grpo", "+platform=cpu",
        f"actor_rollout_ref.model.path={build_deep_policy()}", "actor_rollout_ref.model.custom_chat_template=null",
        f"data.train_files={assets.train}", f"data.val_files={assets.val}",
        "data.max_prompt_length=64", "data.max_response_length=24",
        "data.train_batch_size=4", "actor_rollout_ref.rollout.n=4", "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        f"trainer.total_training_steps={steps}", "trainer.total_epochs=100", "trainer.val_before_train=false",
        "trainer.test_freq=-1", "trainer.logger=[console]", f"trainer.default_local_dir={ckpt}",
        *overrides,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("nested")
    ckpt = tmp / "ckpt"
    out: dict = {}
    out["first"] = _metrics(_run(_command(ckpt, 2, "+nested=r05", "trainer.save_freq=1"), tmp / "first.log"))
    out["state"] = torch.load(ckpt / "global_step_2" / "nested_state.pt", weights_only=False)
    log = _run(_command(ckpt, 3, "+nested=r05", "trainer.save_freq=1", "trainer.resume_mode=auto"), tmp / "resumed.log")
    out["resumed"] = _metrics(log)
    out["r0"] = _metrics(_run(_command(tmp / "ckpt0", 1, "+nested=r0", "trainer.save_freq=-1"), tmp / "r0.log"))
    return out


def _expected_codes(steps: int) -> list[float]:
    """The skip sets the schedule draws from the top-level seed (configs/common.yaml: seed 1) for an 8-layer model."""
    s = SkipSchedule(SkipScheduleConfig(skip_ratio=0.5, seed=1), num_layers=8)
    return [float(sum(2**i for i in s.draw())) for _ in range(steps)]


def test_skip_sets_differ_per_step_and_resume_restores_the_rng(runs) -> None:
    first, resumed = runs["first"], runs["resumed"]
    assert sorted(first) == [1, 2] and sorted(resumed) == [3]
    codes = [first[1]["nested/skip_code"], first[2]["nested/skip_code"], resumed[3]["nested/skip_code"]]
    assert len(set(codes)) >= 2
    assert codes == _expected_codes(3)  # step 3 (after the restart) is the schedule's third draw
    assert runs["state"]["schedule"]["draws"] == 2
    assert all(m["nested/skip_size"] == 4.0 for m in (first[1], first[2], resumed[3]))


def test_behaviour_model_is_off_policy_and_corrected_with_the_recomputed_weights(runs) -> None:
    skipped = [runs["first"][1], runs["first"][2], runs["resumed"][3]]
    full = runs["r0"][1]
    assert full["nested/skip_size"] == 0.0 and full["training/rollout_probs_diff_mean"] < 1e-3
    for m in skipped:
        assert m["training/rollout_probs_diff_mean"] > 0.01
        assert m["training/rollout_probs_diff_mean"] > 50 * full["training/rollout_probs_diff_mean"]
        assert m["nested/is_weight_recheck_err"] < 1e-5  # the weights the loss multiplies = min(pi/mu_S, 2)
        assert "rollout_corr/rollout_is_mean" in m and m["nested/kl_k3"] > full["nested/kl_k3"]
        assert m["nested/gen_tokens_per_s"] > 0


def test_training_proceeds(runs) -> None:
    for m in [runs["first"][1], runs["first"][2], runs["resumed"][3]]:
        assert math.isfinite(m["actor/grad_norm"]) and math.isfinite(m["actor/pg_loss"])
        assert m["response_length/mean"] > 0
