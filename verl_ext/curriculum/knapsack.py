"""Knapsack rollout allocation (KnapsackRL, arXiv 2509.25849; docs/methods/knapsack.md).

Each prompt i of the batch is an item whose "weight" is its rollout count n_i and whose value is the expected
gradient signal of a group of n_i binary rewards at success rate p_i (the paper's value function):

    value(p, n) = (1 − p^n − (1 − p)^n) · p · (1 − p)²

(the probability that the group is informative, i.e. neither all right nor all wrong, times the paper's per-prompt
gradient contribution p(1 − p)²). The step's budget N = m·n is split as the multiple-choice knapsack

    max Σ_i value(p_i, n_i)   s.t.  Σ_i n_i = N,   lo_i ≤ n_i ≤ hi_i.

value(p, ·) is concave in n (its increment p(1 − p)²·(p^k(1 − p) + (1 − p)^k p) shrinks with k), so taking the
N − Σ lo_i largest increments over all (i, k) — a greedy on marginal gains — is exact (:func:`allocate_knapsack`;
tests check it against brute force on every case with m ≤ 6, N ≤ 8).

The strategy (``curriculum.name=knapsack``): m prompts per step from a seeded pass permutation (like ``uniform``);
p̂_i = the mean of a Beta(α0, β0) posterior of the prompt's past rewards, decayed by λ like MoPPS/CurES. As in the
authors' code, prompts without history get the default n, prompts whose last visit was all wrong or all right (the
paper's p = 0 and p = 1) get ``n_min``; only the others (0 < p < 1) enter the knapsack with bounds
[``n_min``, ``n_max``]. Budget the informative prompts cannot absorb (all at ``n_max``) is spread evenly over the
all-wrong prompts (the authors' code gives it to the p = 0 prompts), up to ``n_max`` each; what still remains goes to
the all-right prompts, then to the unseen ones.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from verl_ext.curriculum.base import Curriculum, CurriculumConfig, Group, RolloutContext, register_curriculum
from verl_ext.curriculum.cures import BetaPosterior
from verl_ext.curriculum.parts.allocators import allocate_knapsack, knapsack_categories, knapsack_counts, spread_evenly
from verl_ext.curriculum.parts.scores import knapsack_value
from verl_ext.curriculum.sampler import PassSampling
from verl_ext.curriculum.uniform import group_counts

__all__ = ["KnapsackCurriculum", "KnapsackConfig", "allocate_knapsack", "knapsack_value", "spread_evenly"]


@dataclasses.dataclass
class KnapsackConfig(CurriculumConfig):
    """Knapsack allocation options (KnapsackRL defaults n_min = 2, n_max = 128).

    Attributes:
        n_min, n_max: bounds of an informative prompt's count; all-wrong / all-right prompts get ``n_min``.
        min_history: visits a prompt needs before its p̂ is trusted (fewer: the default n).
        alpha0, beta0: the Beta prior of p̂; decay: λ of the posterior update (1 = no forgetting).
    """

    n_min: int = 2
    n_max: int = 128
    min_history: int = 1
    alpha0: float = 1.0
    beta0: float = 1.0
    decay: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.n_min <= self.n <= self.n_max:
            raise ValueError(
                f"need 1 <= curriculum.params.n_min <= n <= curriculum.params.n_max, got n_min={self.n_min}, "
                f"n={self.n} (actor_rollout_ref.rollout.n), n_max={self.n_max}"
            )
        if self.n_min < 2:
            raise ValueError(f"curriculum.params.n_min={self.n_min}: a GRPO group needs >= 2 responses (paper: 2)")
        if self.min_history < 1:
            raise ValueError(f"curriculum.params.min_history must be >= 1, got {self.min_history}")
        if not (self.alpha0 > 0 and self.beta0 > 0):
            raise ValueError(f"curriculum.params.alpha0 and beta0 must be > 0, got {self.alpha0}, {self.beta0}")
        if not 0.0 <= self.decay <= 1.0:
            raise ValueError(f"curriculum.params.decay (λ) must lie in [0, 1], got {self.decay}")


@register_curriculum("knapsack")
class KnapsackCurriculum(PassSampling, Curriculum):
    """Uniform pass sampling of m prompts; per-prompt n_i from the knapsack over the Beta posterior's p̂."""

    config_class = KnapsackConfig

    def __init__(self, config: KnapsackConfig, num_prompts: int) -> None:
        super().__init__(config, num_prompts)
        self.config: KnapsackConfig = config
        self.init_pass(num_prompts, config.seed, config.batch_size, "data.train_batch_size")
        self.posterior = BetaPosterior(num_prompts, config.alpha0, config.beta0, config.decay)
        # outcome of each prompt's last visit: -1 unseen, 0 all wrong, 1 all right, 2 mixed
        self.last_outcome = np.full(num_prompts, -1, dtype=np.int8)

    def allocate(self, idx: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Per-prompt counts for the prompts ``idx`` (Σ = m·n exactly) and the category masks used (the knapsack
        allocator of the composable parts, :func:`verl_ext.curriculum.parts.allocators.knapsack_counts`)."""
        cfg = self.config
        p = self.posterior.mean(idx)
        masks = knapsack_categories(self.posterior.visits[idx], self.last_outcome[idx], p, cfg.min_history)
        n = knapsack_counts(p, masks, cfg.batch_size * cfg.n, cfg.n, cfg.n_min, cfg.n_max)
        return n, masks

    def run_step(self, ctx: RolloutContext) -> dict[str, float]:
        """Next m prompts of the pass; knapsack counts; submit and commit."""
        t0 = time.perf_counter()
        idx = self.sampler.next(self.config.batch_size)
        n, masks = self.allocate(idx)
        select_s = time.perf_counter() - t0
        groups = ctx.submit(idx, n)
        ctx.commit(groups)
        p = self.posterior.mean(idx)
        out = {
            "knapsack/n_min": float(n.min()),
            "knapsack/n_mean": float(n.mean()),
            "knapsack/n_max": float(n.max()),
            "knapsack/value_total": float(knapsack_value(p[masks["info"]], n[masks["info"]]).sum()),
            "knapsack/select_s": select_s,
        }
        for name, mask in masks.items():
            out[f"knapsack/frac_{name}"] = float(mask.mean())
        return out

    def observe(self, trained: Sequence[Group], screened: Sequence[Group] = ()) -> dict[str, float]:
        """Posterior update (decayed Beta) and last-visit outcome from the trained groups (s = #reward > 0.5)."""
        idx, n, s = group_counts(trained)
        self.posterior.update(idx, s, n)
        outcome = np.where(s == 0, 0, np.where(s == n, 1, 2)).astype(np.int8)
        self.last_outcome[idx] = outcome
        return {}

    def predicted_success(self, indices: np.ndarray) -> np.ndarray:
        """p̂ = the Beta posterior's mean for ``indices`` (what the knapsack allocates on), float64, shape ``(k,)``."""
        return self.posterior.mean(np.asarray(indices, dtype=np.int64))

    def state_dict(self) -> dict[str, Any]:
        """RNG and pass, posterior, last-visit outcomes."""
        return {
            **self.pass_state(),
            "posterior": self.posterior.state_dict(),
            "last_outcome": self.last_outcome.copy(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (the pool size must match)."""
        self.load_pass_state(state)
        self.posterior.load_state_dict(state["posterior"])
        self.last_outcome = np.asarray(state["last_outcome"], dtype=np.int8).copy()
