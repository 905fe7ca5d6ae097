"""Curricula stay honest under mu_S: CurES (online) and PCL observe importance-weighted successes, or only full-model
steps. Unit level on the fake rollout context: mu_S succeeds with q_i < p_i (the full policy's rate); each binary
response carries its exact likelihood ratio log pi(y)/mu_S(y) as its sequence log-weight."""

from __future__ import annotations

import numpy as np
import torch

from verl_ext.curriculum.base import build_curriculum
from verl_ext.curriculum.testing import FakeRolloutContext
from verl_ext.nested.controller import NestedConfig, NestedController
from verl_ext.nested.correction import VARIANTS
from verl_ext.nested.schedule import SkipScheduleConfig

P_FULL, Q_SKIP = 0.6, 0.3


def _controller(feedback: str = "importance_weighted", full_every: int = 0) -> NestedController:
    cfg = NestedConfig(schedule=SkipScheduleConfig(skip_ratio=0.5, full_every=full_every), correction="token_tis",
                       curriculum_feedback=feedback)  # fmt: skip
    return NestedController(cfg, num_layers=8, rollout_name="hf", rollout_correction=dict(VARIANTS["token_tis"]))


def _data(groups) -> dict:
    """The batch fields ``feedback`` reads: one 'token' per response, log-ratio = the outcome's likelihood ratio."""
    keys, uids, lr = [], [], []
    for g in groups:
        for j, r in enumerate(g.rewards):
            keys.append(f"{g.handle}_{j}_0")
            uids.append(g.handle)
            lr.append(np.log(P_FULL / Q_SKIP) if r > 0 else np.log((1 - P_FULL) / (1 - Q_SKIP)))
    old = torch.tensor(lr, dtype=torch.float32)[:, None]
    return {"keys": keys, "uids": uids, "old_log_probs": old, "rollout_log_probs": torch.zeros_like(old),
            "response_mask": torch.ones_like(old)}  # fmt: skip


def _observed_rate(name: str, params: dict, ctrl: NestedController, steps: int, value_fn=None) -> tuple[float, float]:
    """(mean reward the curriculum observed, mean raw mu_S reward) over ``steps`` steps."""
    cur = build_curriculum(name, params, 64)
    ctx = FakeRolloutContext(np.full(64, Q_SKIP), seed=1, value_fn=value_fn)
    seen, raw = [], []
    for _ in range(steps):
        ctrl.current = ctrl.schedule.draw()
        cur.run_step(ctx)
        trained = ctx.committed_with_rewards()
        observed, screened = ctrl.feedback(trained, [], _data(trained))
        assert screened == []
        cur.observe(observed, screened)
        seen += [float(g.rewards.mean()) for g in observed]
        raw += [float(g.rewards.mean()) for g in trained]
        ctx.new_step()
    return float(np.mean(seen)) if seen else float("nan"), float(np.mean(raw))


def test_cures_online_receives_importance_weighted_successes() -> None:
    ctrl = _controller()
    seen, raw = _observed_rate("cures_online", {"batch_size": 8, "n": 8, "seed": 5}, ctrl, 40)
    assert abs(raw - Q_SKIP) < 0.05  # what mu_S achieved
    assert abs(seen - P_FULL) < 0.08  # what the curriculum was told: the full policy's rate (SNIS, small bias)


def test_cures_posterior_moves_towards_the_full_policy_rate() -> None:
    def posterior_mean(feedback_ctrl) -> float:
        cur = build_curriculum("cures_online", {"batch_size": 16, "n": 8, "seed": 5}, 64)
        ctx = FakeRolloutContext(np.full(64, Q_SKIP), seed=2)
        for _ in range(30):
            cur.run_step(ctx)
            trained = ctx.committed_with_rewards()
            if feedback_ctrl is not None:
                feedback_ctrl.current = [2, 3, 4, 5]
                trained, _ = feedback_ctrl.feedback(trained, [], _data(trained))
            cur.observe(trained, [])
            ctx.new_step()
        post = cur.state_dict()["posterior"]
        visited = np.asarray(post["visits"]) > 0
        a, b = np.asarray(post["alpha"])[visited], np.asarray(post["beta"])[visited]
        return float(np.mean(a / (a + b)))

    naive, honest = posterior_mean(None), posterior_mean(_controller())
    assert honest > naive + 0.1, (naive, honest)


def test_pcl_observes_weighted_successes_and_only_full_model_steps_when_asked() -> None:
    params = {"batch_size": 4, "n": 8, "k": 3, "tau": 0.5, "seed": 2}
    vf = lambda idx: np.full(len(idx), 0.5)  # noqa: E731
    seen, raw = _observed_rate("pcl", params, _controller(), 60, value_fn=vf)
    assert abs(seen - P_FULL) < 0.1 and abs(raw - Q_SKIP) < 0.08
    # full_model_only: every 3rd step is generated with S = {}; the others reach the curriculum as nothing
    ctrl = _controller("full_model_only", full_every=3)
    cur = build_curriculum("pcl", params, 64)
    ctx = FakeRolloutContext(np.full(64, Q_SKIP), seed=1, value_fn=vf)
    counts = []
    for _ in range(6):
        ctrl.current = ctrl.schedule.draw()
        cur.run_step(ctx)
        observed, _ = ctrl.feedback(ctx.committed_with_rewards(), [], None)
        cur.observe(observed, [])
        counts.append(len(observed))
        ctx.new_step()
    assert counts == [0, 0, 4, 0, 0, 4]


def test_full_model_steps_pass_rewards_unchanged_and_screening_is_refused_when_weighting() -> None:
    import pytest

    ctrl = _controller()
    ctx = FakeRolloutContext(np.full(8, Q_SKIP), seed=0)
    groups = ctx.generate(np.arange(4), 4)
    ctrl.current = []
    same, _ = ctrl.feedback(groups, [], None)
    assert all(np.array_equal(a.rewards, b.rewards) for a, b in zip(same, groups))
    ctrl.current = [1, 2]
    with pytest.raises(NotImplementedError, match="screening rollouts"):
        ctrl.feedback(groups[:2], groups[2:], _data(groups))
