"""Correction variants against verl 0.9.1's own rollout correction and policy loss, and the statistics we log."""

from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf

from verl_ext.nested.correction import (
    VARIANTS,
    behaviour_stats,
    check_rollout_correction,
    importance_weighted_rewards,
    sequence_log_ratios,
    truncated_token_weights,
)


def _batch(seed: int = 0, b: int = 6, t: int = 9):
    g = torch.Generator().manual_seed(seed)
    rollout = -torch.rand(b, t, generator=g) * 3
    old = rollout + torch.randn(b, t, generator=g) * 0.5
    mask = torch.ones(b, t)
    mask[0, 6:] = 0
    mask[3, 2:] = 0
    return old, rollout, mask


def _verl(variant: str, old, rollout, mask):
    from verl import DataProto
    from verl.trainer.ppo.rollout_corr_helper import compute_rollout_correction_and_add_to_batch

    cfg = OmegaConf.create(
        {"rollout_is": None, "rollout_is_threshold": 2.0, "rollout_rs": None, "rollout_rs_threshold": None,
         "bypass_mode": False, "loss_type": "ppo_clip", "rollout_is_batch_normalize": False, **VARIANTS[variant]}
    )  # fmt: skip
    data = DataProto.from_dict({"old_log_probs": old, "rollout_log_probs": rollout, "response_mask": mask.clone()})
    return compute_rollout_correction_and_add_to_batch(data, cfg)


def test_token_tis_weights_are_verls_and_equal_our_recomputation() -> None:
    old, rollout, mask = _batch()
    data, metrics = _verl("token_tis", old, rollout, mask)
    w = data.batch["rollout_is_weights"]
    assert torch.allclose(w * mask, truncated_token_weights(old, rollout, 2.0) * mask, atol=1e-6)
    assert w.max() <= 2.0 and any(k.startswith("rollout_corr/") for k in metrics)


def test_seq_is_weights_are_one_truncated_product_per_response() -> None:
    old, rollout, mask = _batch(1)
    data, _ = _verl("seq_is", old, rollout, mask)
    w = data.batch["rollout_is_weights"]
    mine = torch.exp(sequence_log_ratios(old, rollout, mask)).clamp(max=5.0)
    assert torch.allclose(w * mask, mine[:, None] * mask, rtol=1e-5)


def test_seq_rs_drops_responses_outside_the_band_and_none_keeps_all() -> None:
    old, rollout, mask = _batch(2)
    old[1] = rollout[1] + 2.0  # geometric-mean ratio e^2 > 2: rejected
    data, metrics = _verl("seq_rs", old, rollout, mask)
    assert data.batch["response_mask"][1].sum() == 0 and "rollout_is_weights" not in data.batch
    assert metrics["rollout_corr/rollout_rs_seq_masked_fraction"] > 0
    data, _ = _verl("none", old, rollout, mask)
    assert torch.equal(data.batch["response_mask"], mask) and "rollout_is_weights" not in data.batch


def test_verls_policy_loss_multiplies_the_weights() -> None:
    """The corrected loss: with pi_old = pi_theta (ratio 1, no clip) verl's loss is token-mean(-A * w)."""
    from verl.trainer.ppo.core_algos import compute_policy_loss_vanilla

    old, rollout, mask = _batch(3)
    adv = torch.randn_like(old)
    w = truncated_token_weights(old, rollout, 2.0)
    cfg = OmegaConf.create({"clip_ratio": 0.2, "clip_ratio_low": 0.2, "clip_ratio_high": 0.2, "clip_ratio_c": 3.0,
                            "global_batch_info": {}})  # fmt: skip
    loss, _ = compute_policy_loss_vanilla(old, old, adv, mask, "token-mean", cfg, rollout_is_weights=w)
    expected = (-adv * w * mask).sum() / mask.sum()
    assert torch.allclose(loss, expected, atol=1e-6)
    plain, _ = compute_policy_loss_vanilla(old, old, adv, mask, "token-mean", cfg)
    assert not torch.allclose(plain, expected)


def test_behaviour_stats_match_direct_formulas() -> None:
    old, rollout, mask = _batch(4)
    s = behaviour_stats(old, rollout, mask)
    lr = (old - rollout)[mask.bool()]
    assert s["kl_k1"] == pytest.approx(float(-lr.mean()), rel=1e-5)
    assert s["kl_k3"] == pytest.approx(float((lr.exp() - 1 - lr).mean()), rel=1e-5) and s["kl_k3"] >= 0
    seq = sequence_log_ratios(old, rollout, mask).double()
    w = seq.exp()
    assert s["seq_ess"] == pytest.approx(float(w.sum() ** 2 / (len(w) * (w**2).sum())), rel=1e-6)
    same = behaviour_stats(rollout, rollout, mask)
    assert same["kl_k1"] == 0.0 and same["kl_k3"] == 0.0 and same["seq_ess"] == pytest.approx(1.0)


def test_importance_weighted_rewards_are_the_self_normalised_estimate() -> None:
    r, lw = [1.0, 0.0, 1.0, 0.0, 0.0, 0.0], [math.log(4), 0.0, 0.0, 0.0, 0.0, 0.0]
    out = importance_weighted_rewards(r, lw)
    # p_hat = sum w r / sum w = 5/9; as a binary group of 6: round(6 * 5/9) = 3 successes
    assert out.tolist() == [1, 1, 1, 0, 0, 0]
    assert sorted(importance_weighted_rewards(r, [0.5] * 6)) == sorted(r)  # equal weights: the same successes
    with pytest.raises(ValueError, match="differ in length"):
        importance_weighted_rewards(r, lw[:3])
    assert importance_weighted_rewards([0.0] * 4, [0.0, 1.0, 2.0, 3.0]).sum() == 0.0


def test_config_must_implement_the_named_variant() -> None:
    check_rollout_correction("token_tis", {**VARIANTS["token_tis"]}, True)
    with pytest.raises(ValueError, match=r"rollout_is=None \(needs 'token'\)"):
        check_rollout_correction("token_tis", {"rollout_is": None}, True)
    with pytest.raises(ValueError, match="calculate_log_probs=true"):
        check_rollout_correction("none", VARIANTS["none"], False)
    with pytest.raises(ValueError, match="valid: none, token_tis, seq_is, seq_rs"):
        check_rollout_correction("ppo", {}, True)
