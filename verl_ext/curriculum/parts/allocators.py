"""Allocators of the composable curricula (docs/methods/composed.md): n_i responses for each selected prompt, with
Σ n_i = N = m·n exactly.

- ``fixed``: n each (GRPO, MoPPS, PCL, probe);
- ``neyman``: CurES's Neyman allocation n_i ∝ σ_i (arXiv 2510.01037 Eq. 20) with floors and a ceiling, by
  :func:`verl_ext.curriculum.cures.allocate_with_floors`; σ_i = √(E[p(1−p)]) under the Beta posterior
  (:func:`verl_ext.curriculum.cures.bernoulli_sigma`), or √(p̂(1−p̂)) for estimators without one; never-seen prompts
  get the floor ``cold_n`` (``cures_online``'s pilot floor) when it is set;
- ``gvm``: GVM's weights w = G/√(p + α/p^(β−1)) (arXiv 2505.02391; :func:`verl_ext.curriculum.gvm.gvm_weights`) with
  G = 1 (no gradient norms here), n_i ∝ w_i under the same floors and ceiling (no zeros, no singletons: the trainer
  refuses groups of one for composed curricula);
- ``knapsack``: KnapsackRL's exact multiple-choice knapsack (arXiv 2509.25849): :func:`allocate_knapsack` over the
  informative prompts, the unseen ones at n, the last-visit all-wrong / all-right ones at ``n_min``
  (:func:`knapsack_counts`).

The knapsack maths lives here; :mod:`verl_ext.curriculum.knapsack` (the ``knapsack`` strategy) re-exports it.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np

from verl_ext.curriculum.cures import allocate_with_floors, bernoulli_sigma
from verl_ext.curriculum.gvm import gvm_weights
from verl_ext.curriculum.parts.estimators import Estimate

__all__ = [
    "ALLOCATORS",
    "Allocator",
    "FixedAllocator",
    "GVMAllocator",
    "KnapsackAllocator",
    "NeymanAllocator",
    "allocate_knapsack",
    "knapsack_categories",
    "knapsack_counts",
    "neyman_sigma",
    "spread_evenly",
]


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


def knapsack_categories(
    visits: np.ndarray | None, outcome: np.ndarray | None, p: np.ndarray, min_history: int
) -> dict[str, np.ndarray]:
    """KnapsackRL's prompt categories (bool masks, shape ``(m,)``): ``cold`` (fewer than ``min_history`` visits: the
    default n), ``zero`` / ``one`` (last visit all wrong / all right: ``n_min``), ``info`` (the knapsack's items).

    Without a visit history (``visits is None``) no prompt is cold; without outcomes, p̂ = 0 or 1 decides.
    """
    cold = np.zeros(p.shape, dtype=bool) if visits is None else visits < min_history
    if outcome is None:
        zero, one = ~cold & (p <= 0.0), ~cold & (p >= 1.0)
    else:
        zero, one = ~cold & (outcome == 0), ~cold & (outcome == 1)
    return {"cold": cold, "zero": zero, "one": one, "info": ~(cold | zero | one)}


def knapsack_counts(
    p: np.ndarray, masks: dict[str, np.ndarray], budget: int, n_default: int, n_min: int, n_max: int
) -> np.ndarray:
    """Per-prompt counts (Σ = ``budget`` exactly) for the categories of :func:`knapsack_categories`.

    Unseen prompts get ``n_default``, all-wrong / all-right ones ``n_min``; the informative ones split the rest by
    :func:`allocate_knapsack` within [n_min, n_max]. Budget they cannot absorb is spread evenly over the all-wrong
    prompts (the authors' code gives it to p = 0), then the all-right, then the unseen ones, up to ``n_max`` each.
    """
    cold, zero, one, info = masks["cold"], masks["zero"], masks["one"], masks["info"]
    n = np.where(cold, n_default, n_min).astype(np.int64)
    free = budget - int(n.sum())
    if info.any():
        cap = int(info.sum()) * n_max
        take = min(free + int(info.sum()) * n_min, cap)
        n[info] = allocate_knapsack(np.clip(p[info], 0.0, 1.0), take, n_min, n_max)
        free = budget - int(n.sum())
    if free > 0:  # the informative prompts are full (or absent): p = 0 first, then p = 1, then unseen
        left = free
        for mask in (zero, one, cold):
            left = spread_evenly(n, np.flatnonzero(mask), left, n_max)
        if left:
            raise AssertionError(f"knapsack could not place {left} responses (m·n <= m·n_max is checked)")
    return n


def neyman_sigma(est: Estimate) -> np.ndarray:
    """σ_i of CurES Eq. 20: √(E[p(1−p)]) under Beta(α, β) when the estimator has a posterior, else √(p̂(1−p̂))."""
    if est.alpha is not None and est.beta is not None:
        return bernoulli_sigma(est.alpha, est.beta)
    p = np.clip(est.p, 0.0, 1.0)
    return np.sqrt(p * (1.0 - p))


class Allocator(abc.ABC):
    """One allocator; ``keys`` are the ``curriculum.params`` it reads."""

    name: ClassVar[str]
    keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, n: int) -> None:
        self.n = int(n)

    @abc.abstractmethod
    def allocate(self, est: Estimate, budget: int) -> np.ndarray:
        """int64 counts for the selected prompts (shape of ``est.p``), summing to ``budget``."""


class FixedAllocator(Allocator):
    """``fixed``: n responses for every prompt (the budget is m·n by construction)."""

    name = "fixed"

    def allocate(self, est: Estimate, budget: int) -> np.ndarray:
        return np.full(est.p.size, self.n, dtype=np.int64)


class NeymanAllocator(Allocator):
    """``neyman``: CurES Eq. 20 within [``n_min``, ``n_max``]; never-seen prompts floored at ``cold_n`` if set."""

    name = "neyman"
    keys = ("n_min", "n_max", "cold_n")

    def __init__(self, n: int, n_min: int, n_max: int, cold_n: int | None) -> None:
        super().__init__(n)
        self.n_min, self.n_max, self.cold_n = int(n_min), int(n_max), cold_n

    def floors(self, est: Estimate) -> np.ndarray:
        """Per-prompt floors: ``cold_n`` for prompts without evidence (when set), ``n_min`` otherwise."""
        if self.cold_n is None or est.visits is None:
            return np.full(est.p.size, self.n_min, dtype=np.int64)
        return np.where(est.visits == 0, self.cold_n, self.n_min).astype(np.int64)

    def allocate(self, est: Estimate, budget: int) -> np.ndarray:
        return allocate_with_floors(neyman_sigma(est), budget, self.floors(est), self.n_max)


class GVMAllocator(Allocator):
    """``gvm``: n_i ∝ GVM's w_i = 1/√(p + α/p^(β−1)) (G = 1) within [``n_min``, ``n_max``]."""

    name = "gvm"
    keys = ("n_min", "n_max", "gvm_alpha", "gvm_beta")

    def __init__(self, n: int, n_min: int, n_max: int, alpha: float, beta: float) -> None:
        super().__init__(n)
        self.n_min, self.n_max, self.alpha, self.beta = int(n_min), int(n_max), float(alpha), float(beta)

    def allocate(self, est: Estimate, budget: int) -> np.ndarray:
        p = np.clip(est.p, 0.0, 1.0)
        w = gvm_weights(np.ones_like(p), p, self.alpha, self.beta)
        return allocate_with_floors(w, budget, np.full(p.size, self.n_min, dtype=np.int64), self.n_max)


class KnapsackAllocator(Allocator):
    """``knapsack``: :func:`knapsack_counts` within [``n_min``, ``n_max``], history threshold ``min_history``."""

    name = "knapsack"
    keys = ("n_min", "n_max", "min_history")

    def __init__(self, n: int, n_min: int, n_max: int, min_history: int) -> None:
        super().__init__(n)
        self.n_min, self.n_max, self.min_history = int(n_min), int(n_max), int(min_history)

    def categories(self, est: Estimate) -> dict[str, np.ndarray]:
        return knapsack_categories(est.visits, est.outcome, est.p, self.min_history)

    def allocate(self, est: Estimate, budget: int) -> np.ndarray:
        return knapsack_counts(est.p, self.categories(est), budget, self.n, self.n_min, self.n_max)


ALLOCATORS: dict[str, type[Allocator]] = {
    c.name: c for c in (FixedAllocator, NeymanAllocator, GVMAllocator, KnapsackAllocator)
}
