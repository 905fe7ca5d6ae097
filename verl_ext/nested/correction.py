"""Off-policy correction of Nested-ReFT through verl 0.9.1's ``algorithm.rollout_correction``, and the statistics.

The rollout samples y ~ mu_S (the policy with the layers of S skipped) and records log mu_S(y_t | x, y_<t); the actor
recomputes log pi_theta (the full model). With the per-token ratio rho_t = pi_theta / mu_S (verl's
``rollout_corr_helper``):

- ``none``       -- no weights (verl still logs ``rollout_corr/*``: the mismatch is measured, not corrected);
- ``token_tis``  -- token-level truncated IS, w_t = min(rho_t, C) (``rollout_is: token``);
- ``seq_is``     -- sequence-level truncated IS, w = min(prod_t rho_t, C) on every token
  (``rollout_is: sequence``);
- ``seq_rs``     -- sequence-level rejection: y is dropped from the loss when the geometric-mean ratio
  exp(mean_t log rho_t) leaves [lo, hi] (``rollout_rs: seq_mean_k1``).

The paper (abstract only) names three bias-mitigation variants without details; these are our choice, expressed
in verl's own correction so no loss code is copied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "FEEDBACK_MODES",
    "VARIANTS",
    "behaviour_stats",
    "check_rollout_correction",
    "importance_weighted_rewards",
    "sequence_log_ratios",
    "truncated_token_weights",
]

# variant -> the algorithm.rollout_correction keys it sets (others keep verl's defaults)
VARIANTS: dict[str, dict[str, Any]] = {
    "none": {"rollout_is": None, "rollout_rs": None, "bypass_mode": False},
    "token_tis": {"rollout_is": "token", "rollout_is_threshold": 2.0, "rollout_rs": None, "bypass_mode": False},
    "seq_is": {"rollout_is": "sequence", "rollout_is_threshold": 5.0, "rollout_rs": None, "bypass_mode": False},
    "seq_rs": {
        "rollout_is": None,
        "rollout_rs": "seq_mean_k1",
        "rollout_rs_threshold": "0.5_2.0",
        "bypass_mode": False,
    },
}

# how a curriculum sees the rewards of mu_S's samples
FEEDBACK_MODES = ("importance_weighted", "full_model_only")


def check_rollout_correction(
    variant: str, rollout_correction: Mapping[str, Any] | None, calculate_log_probs: bool
) -> None:
    """Refuse a config whose ``algorithm.rollout_correction`` does not implement ``nested.correction``."""
    if variant not in VARIANTS:
        raise ValueError(f"nested.correction={variant!r}; valid: {', '.join(VARIANTS)}")
    if not calculate_log_probs:
        raise ValueError(
            "nested needs actor_rollout_ref.rollout.calculate_log_probs=true (the rollout must record "
            "mu_S's log-probs for the correction)"
        )
    rc = dict(rollout_correction or {})
    wrong = {k: (rc.get(k), v) for k, v in VARIANTS[variant].items() if rc.get(k) != v}
    if wrong:
        detail = ", ".join(
            f"algorithm.rollout_correction.{k}={got!r} (needs {want!r})" for k, (got, want) in wrong.items()
        )
        raise ValueError(
            f"nested.correction={variant!r} but {detail}; compose the matching nested_correction group "
            f"(nested_correction={variant})"
        )


def sequence_log_ratios(
    old_log_probs: torch.Tensor, rollout_log_probs: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """log prod_t pi/mu over each response's valid tokens, ``[B]`` (inputs ``[B, T]``)."""
    return ((old_log_probs - rollout_log_probs) * mask).sum(-1)


def truncated_token_weights(
    old_log_probs: torch.Tensor, rollout_log_probs: torch.Tensor, threshold: float
) -> torch.Tensor:
    """Token-level truncated IS weights min(exp(log pi - log mu), C) (what ``token_tis`` hands the loss)."""
    return torch.exp(old_log_probs - rollout_log_probs).clamp(max=threshold)


def behaviour_stats(
    old_log_probs: torch.Tensor, rollout_log_probs: torch.Tensor, mask: torch.Tensor
) -> dict[str, float]:
    """Behaviour-target divergence and importance-weight statistics of one batch (tokens sampled from mu_S).

    ``kl_k1`` = E_mu[log mu - log pi] per token (unbiased estimate of KL(mu_S || pi_theta)); ``kl_k3`` = E_mu[rho - 1
    - log rho] (non-negative, lower variance). Sequence weights w_i = exp(sum_t log rho_t); ``seq_ess`` is the
    normalised effective sample size (sum w)^2 / (B sum w^2).
    """
    m = mask.float()
    n_tok = m.sum().clamp(min=1.0)
    log_rho = (old_log_probs - rollout_log_probs) * m
    rho = torch.exp(log_rho.clamp(max=20.0))
    seq = sequence_log_ratios(old_log_probs, rollout_log_probs, m).double()
    w = torch.exp(seq - seq.max())  # scale-free for the ESS
    return {
        "kl_k1": float((-log_rho).sum() / n_tok),
        "kl_k3": float(((rho - 1.0 - log_rho) * m).sum() / n_tok),
        "token_weight_mean": float((rho * m).sum() / n_tok),
        "token_weight_max": float((rho * m).max()),
        "seq_log_weight_mean": float(seq.mean()),
        "seq_log_weight_std": float(seq.std()) if seq.numel() > 1 else 0.0,
        "seq_ess": float(w.sum() ** 2 / (len(w) * (w**2).sum())),
    }


def importance_weighted_rewards(rewards: Sequence[float], log_weights: Sequence[float]) -> np.ndarray:
    """Self-normalised importance-weighted successes of one group (mu_S's samples, the full policy's success rate).

    With w_i = exp(log_weights_i) / sum_j exp(log_weights_j), p_hat = sum_i w_i r_i is the self-normalised IS estimate
    of the full policy's success rate E_pi[r]. Curricula count successes as rewards > 0.5 (CurES Eq. 23's s_i) or
    average rewards (PCL's target), so the group's n rewards are returned as k = round(n * p_hat) ones followed by
    n - k zeros: a binary vector whose count and mean are the weighted estimate (up to rounding to 1/n).
    """
    r = np.asarray(rewards, dtype=float)
    lw = np.asarray(log_weights, dtype=float)
    if r.shape != lw.shape:
        raise ValueError(f"rewards {r.shape} and log-weights {lw.shape} of a group differ in length")
    w = np.exp(lw - lw.max())
    p_hat = float((w * (r > 0.5)).sum() / w.sum())
    k = int(round(len(r) * p_hat))
    return np.concatenate([np.ones(k), np.zeros(len(r) - k)])
