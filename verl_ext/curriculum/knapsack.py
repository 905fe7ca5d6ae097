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
from verl_ext.curriculum.sampler import PassSampling
from verl_ext.curriculum.uniform import group_counts

__all__ = ["KnapsackCurriculum", "KnapsackConfig", "allocate_knapsack", "knapsack_value", "spread_evenly"]


def knapsack_value(p: np.ndarray | float, n: np.ndarray | int) -> np.ndarray:
    """value(p, n) = (1 − p^n − (1 − p)^n)·p·(1 − p)² (KnapsackRL's value of n rollouts at success rate p)."""
    p = np.asarray(p, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    return (1.0 - p**n - (1.0 - p) ** n) * p * (1.0 - p) ** 2


def allocate_knapsack(p: np.ndarray, budget: int, lo: np.ndarray | int, hi: np.ndarray | int) -> np.ndarray:
    """Exact maximiser of Σ value(p_i, n_i) subject to Σ n_i = budget and lo_i ≤ n_i ≤ hi_i.

    The increments value(p, k + 1) − value(p, k) are non-increasing in k, so the optimum takes the K = budget − Σ lo
    largest increments over all (i, k) with lo_i ≤ k < hi_i. Ties at the K-th increment go to lower positions, then
    lower k (so each item's chosen increments stay a prefix).

    Args:
        p: success rates in [0, 1], shape ``(m,)``.
        budget: N, the exact total.
        lo, hi: integer bounds (scalars or shape ``(m,)``), 0 ≤ lo ≤ hi.

    Returns:
        int64 counts, shape ``(m,)``, summing to ``budget``.
    """
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"p must be a non-empty 1-D array, got shape {p.shape}")
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError("p must lie in [0, 1]")
    lo_a = np.broadcast_to(np.asarray(lo, dtype=np.int64), p.shape).copy()
    hi_a = np.broadcast_to(np.asarray(hi, dtype=np.int64), p.shape).copy()
    if np.any(lo_a < 0) or np.any(hi_a < lo_a):
        raise ValueError("need 0 <= lo_i <= hi_i for every prompt")
    if int(budget) != budget or not lo_a.sum() <= budget <= hi_a.sum():
        raise ValueError(
            f"rollout budget N={budget} is outside [Σ lo, Σ hi] = [{lo_a.sum()}, {hi_a.sum()}] for {p.size} prompts; "
            "keep n_min <= n <= n_max (curriculum.params.n_min / n_max, actor_rollout_ref.rollout.n)"
        )
    k_extra = int(budget) - int(lo_a.sum())
    if k_extra == 0:
        return lo_a
    room = hi_a - lo_a
    full = min(int(room.max()), k_extra)  # no prompt can take more than K extra responses
    # Compute the increments of the first `width` counts only; if no prompt takes all of its computed increments, its
    # later (smaller) ones cannot be among the K largest, so the result is exact. Otherwise double the width.
    width = min(full, max(16, 4 * -(-k_extra // p.size)))
    while True:
        if width < full and int(np.minimum(room, width).sum()) < k_extra:
            width = min(full, 2 * width)  # too few computed increments to place K
            continue
        gain = _increments(p, lo_a, room, width)
        take = _top_k(gain.ravel(), k_extra).reshape(p.size, width)
        extra = take.sum(axis=1)
        if width == full or not np.any((extra == width) & (room > width)):
            return lo_a + extra
        width = min(full, 2 * width)


def _increments(p: np.ndarray, lo: np.ndarray, room: np.ndarray, width: int) -> np.ndarray:
    """value(p_i, k + 1) − value(p_i, k) for k = lo_i .. lo_i + width − 1, −inf beyond hi_i; shape (m, width).

    value(p, k + 1) − value(p, k) = p(1 − p)²·(p^k(1 − p) + (1 − p)^k·p), non-increasing in k. Powers by running
    products (cheaper than ``np.power``).
    """
    q = 1.0 - p
    pow_p = np.empty((p.size, width))
    pow_q = np.empty((p.size, width))
    pow_p[:, 0], pow_q[:, 0] = p**lo, q**lo
    pow_p[:, 1:], pow_q[:, 1:] = p[:, None], q[:, None]
    np.cumprod(pow_p, axis=1, out=pow_p)
    np.cumprod(pow_q, axis=1, out=pow_q)
    pow_p *= q[:, None]
    pow_q *= p[:, None]
    pow_p += pow_q
    pow_p *= (p * q * q)[:, None]
    if np.any(room < width):
        pow_p[np.arange(width)[None, :] >= room[:, None]] = -np.inf
    return pow_p


def _top_k(gain: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the k largest entries; ties at the k-th value go to the earliest positions (row-major)."""
    kth = np.partition(gain, gain.size - k)[gain.size - k]
    take = gain > kth
    ties = np.flatnonzero(gain == kth)[: k - int(take.sum())]
    take[ties] = True
    return take


def spread_evenly(n: np.ndarray, order: np.ndarray, amount: int, cap: int) -> int:
    """Add ``amount`` responses to ``n[order]`` one round at a time (earlier positions first), never above ``cap``.

    Modifies ``n`` in place; returns what could not be placed (0 unless every position in ``order`` is at ``cap``).
    """
    order = np.asarray(order, dtype=np.int64)
    while amount > 0:
        room = order[n[order] < cap]
        if room.size == 0:
            break
        if amount >= room.size:
            step = min(amount // room.size, int((cap - n[room]).min()))
            n[room] += step
            amount -= step * room.size
        else:
            n[room[:amount]] += 1
            amount = 0
    return amount


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
        """Per-prompt counts for the prompts ``idx`` (Σ = m·n exactly) and the category masks used."""
        cfg = self.config
        cold = self.posterior.visits[idx] < cfg.min_history
        outcome = self.last_outcome[idx]
        zero = ~cold & (outcome == 0)
        one = ~cold & (outcome == 1)
        info = ~(cold | zero | one)
        n = np.where(cold, cfg.n, cfg.n_min).astype(np.int64)
        budget = cfg.batch_size * cfg.n
        free = budget - int(n.sum())
        if info.any():
            cap = int(info.sum()) * cfg.n_max
            take = min(free + int(info.sum()) * cfg.n_min, cap)
            n[info] = allocate_knapsack(self.posterior.mean(idx[info]), take, cfg.n_min, cfg.n_max)
            free = budget - int(n.sum())
        if free > 0:  # the informative prompts are full (or absent): p = 0 first, then p = 1, then unseen
            left = free
            for mask in (zero, one, cold):
                left = spread_evenly(n, np.flatnonzero(mask), left, cfg.n_max)
            if left:
                raise AssertionError(f"knapsack could not place {left} responses (m·n <= m·n_max is checked)")
        return n, {"cold": cold, "zero": zero, "one": one, "info": info}

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
