"""CurES (arXiv 2510.01037): the shared maths of the three registered CurES strategies.

- ``cures_algorithm1`` (:mod:`verl_ext.curriculum.cures_algorithm1`): the paper's Algorithm 1 as one run.
- ``cures_online`` (:mod:`verl_ext.curriculum.cures_online`): the project's streaming variant (one pass over the
  whole pool, posterior updated every step, distinct draws). Formerly ``curriculum.name=cures`` with ``mode: paper``.
- ``cures_release`` (:mod:`verl_ext.curriculum.cures_release`): the authors' released pipeline.

This module holds only what they share and imports none of them: ρ* (Eq. 14, :func:`sampling_probs`), the Neyman
allocation (Eq. 20, :func:`allocate_with_floors`), the Beta posterior (Eq. 22–24, :class:`BetaPosterior`), the σ
estimators (Eq. 21, :func:`bernoulli_sigma`, :class:`GradNormMoments`), the common config fields
(:class:`CuresCommonConfig`), subset boundaries and the message for checkpoints written under the old name.
See docs/cures.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from verl_ext.curriculum.base import CurriculumConfig

__all__ = [
    "LEGACY_NAME",
    "BetaPosterior",
    "CuresCommonConfig",
    "GradNormMoments",
    "legacy_checkpoint_message",
    "subset_bounds",
    "neyman_allocation",
    "allocate_with_floors",
    "bernoulli_sigma",
    "log_weights",
    "sampling_probs",
]

# Smallest τ for which exp((sqrt(p(1-p)) - 0.5)/τ) >= exp(-500) stays a normal float64 (docs/cures.md).
MIN_TAU = 1e-3


def log_weights(p_hat: np.ndarray, tau: float) -> np.ndarray:
    """Unnormalised log ρ*: ``(sqrt(p̂(1−p̂)) − 0.5)/τ``, shape of ``p_hat`` (0 everywhere when τ = ∞).

    The constant −0.5 shift (the maximum of sqrt(p(1−p))) keeps every exp() in (exp(−0.5/τ), 1].
    """
    p = np.asarray(p_hat, dtype=np.float64)
    if np.isinf(tau):
        return np.zeros_like(p)
    return (np.sqrt(p * (1.0 - p)) - 0.5) / tau


def sampling_probs(p_hat: np.ndarray, tau: float) -> np.ndarray:
    """CurES Eq. 14: ``ρ*(x) = exp(sqrt(p(1−p))/τ) / Σ_x' exp(sqrt(p'(1−p'))/τ)``.

    Args:
        p_hat: estimated accuracies in [0, 1], shape ``(P,)``.
        tau: temperature > 0 (``inf`` gives the uniform distribution).

    Returns:
        ρ*, float64, shape ``(P,)``, summing to 1.
    """
    p = np.asarray(p_hat, dtype=np.float64)
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"p_hat must be a non-empty 1-D array, got shape {p.shape}")
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError("p_hat must lie in [0, 1]")
    if not tau > 0:
        raise ValueError(f"tau must be > 0 (inf = uniform), got {tau}; set curriculum.tau")
    lw = log_weights(p, tau)
    w = np.exp(lw - lw.max())
    return w / w.sum()


def bernoulli_sigma(alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """σ = sqrt(E[p(1−p)]) under Beta(α, β) = ``sqrt(αβ/((α+β)(α+β+1)))`` (Bernoulli σ; docs/cures.md).

    Beta(1,1) → 0.408248; never 0 for α, β > 0.
    """
    a = np.asarray(alpha, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    s = a + b
    return np.sqrt(a * b / (s * (s + 1.0)))


def _water_level(sigma: np.ndarray, budget: int, lo: np.ndarray, n_max: int) -> np.ndarray:
    """x_i = clip(c·σ_i, lo_i, n_max) with Σ x = budget, c found exactly on the sorted breakpoints.

    f(c) = Σ clip(c σ_i, lo_i, n_max) is continuous, piecewise linear and non-decreasing with kinks at
    lo_i/σ_i and n_max/σ_i; the solution lies on the first segment where f reaches the budget.
    """
    fixed = lo >= n_max  # such prompts are pinned at n_max for every c
    x = np.full(sigma.shape, float(n_max))
    free = ~fixed
    s, f_lo = sigma[free], lo[free].astype(np.float64)
    target = budget - n_max * int(fixed.sum())
    if s.size == 0:
        return x
    a, b = f_lo / s, n_max / s  # a < b strictly on free prompts
    order_a, order_b = np.argsort(a, kind="stable"), np.argsort(b, kind="stable")
    a_sorted, b_sorted = a[order_a], b[order_b]
    cum_lo = np.concatenate([[0.0], np.cumsum(f_lo[order_a])])
    cum_sa = np.concatenate([[0.0], np.cumsum(s[order_a])])
    cum_sb = np.concatenate([[0.0], np.cumsum(s[order_b])])
    t = np.unique(np.concatenate([a, b]))
    ia = np.searchsorted(a_sorted, t, side="left")  # prompts with a_i < t (raised above their floor)
    ib = np.searchsorted(b_sorted, t, side="right")  # prompts with b_i <= t (at the ceiling)
    f = (cum_lo[-1] - cum_lo[ia]) + n_max * ib + t * (cum_sa[ia] - cum_sb[ib])
    j = int(np.searchsorted(f, target, side="left"))
    if j == 0:
        c = t[0]
    elif j >= t.size:
        c = t[-1]
    else:
        c = t[j - 1] + (target - f[j - 1]) * (t[j] - t[j - 1]) / (f[j] - f[j - 1])
    x[free] = np.clip(c * s, f_lo, n_max)
    return x


def allocate_with_floors(sigma: np.ndarray, budget: int, lo: np.ndarray, n_max: int) -> np.ndarray:
    """Neyman allocation (CurES Eq. 20) with per-prompt floors (docs/cures.md).

    1. all σ = 0 → σ = 1; else σ_i ← max(σ_i, 1e-6·max σ);
    2. water-filling x_i = clip(c·σ_i, lo_i, n_max) with Σ x_i = budget;
    3. n_i = ⌊x_i⌋, then one unit each by descending fractional part (ties: larger σ, then lower position),
       skipping prompts at n_max.

    Args:
        sigma: per-prompt gradient-noise scale σ_i >= 0, shape ``(m,)``.
        budget: N, total responses.
        lo: integer floors, shape ``(m,)``, each in [1, n_max].
        n_max: ceiling per prompt.

    Returns:
        int64 counts, shape ``(m,)``, summing exactly to ``budget``, ``lo <= n <= n_max``.
    """
    sig = np.asarray(sigma, dtype=np.float64)
    floors = np.asarray(lo, dtype=np.int64)
    if sig.ndim != 1 or sig.size == 0 or floors.shape != sig.shape:
        raise ValueError(f"sigma and lo must be non-empty 1-D arrays of equal length, got {sig.shape}, {floors.shape}")
    if not np.all(np.isfinite(sig)) or np.any(sig < 0):
        raise ValueError("sigma must be finite and >= 0; check the σ estimator's inputs")
    if np.any(floors < 1) or np.any(floors > n_max):
        raise ValueError(f"floors must lie in [1, n_max={n_max}]; lower curriculum.pilot_n/n_min or raise n_max")
    lo_sum, hi_sum = int(floors.sum()), int(n_max) * sig.size
    if not lo_sum <= budget <= hi_sum:
        raise ValueError(
            f"rollout budget N={budget} is outside [{lo_sum}, {hi_sum}] for {sig.size} prompts with these floors and "
            f"n_max={n_max}; keep n_min <= pilot_n <= n_budget <= n_max (curriculum.n_min/pilot_n/n/n_max)"
        )
    sig = np.ones_like(sig) if sig.max() <= 0 else np.maximum(sig, 1e-6 * sig.max())
    x = _water_level(sig, int(budget), floors, int(n_max))
    snapped = np.round(x)
    x = np.where(np.abs(x - snapped) < 1e-9, snapped, x)  # float noise must not flip an exact integer's floor
    n = np.floor(x).astype(np.int64)
    frac = x - n
    pos = np.arange(sig.size)
    order = np.lexsort((pos, -sig, -frac))  # descending frac, then larger σ, then lower position
    remaining = int(budget) - int(n.sum())
    while remaining > 0:  # one pass suffices when Σx = N exactly; loop guards float edge cases
        eligible = order[n[order] < n_max][:remaining]
        n[eligible] += 1
        remaining -= eligible.size
    while remaining < 0:  # float overshoot: take units back from the smallest fractional parts above the floor
        eligible = order[::-1][n[order[::-1]] > floors[order[::-1]]][:-remaining]
        n[eligible] -= 1
        remaining += eligible.size
    return n


def neyman_allocation(sigma: np.ndarray, budget: int, n_min: int, n_max: int) -> np.ndarray:
    """Neyman allocation with a common floor: :func:`allocate_with_floors` with ``lo_i = n_min``.

    Example (docs/cures.md): σ = (0.05, 0.3, 0.3, 0.35), N = 20, [2, 8] → (2, 6, 6, 6).

    Raises:
        ValueError: ``budget`` outside ``[m·n_min, m·n_max]`` or ``n_min > n_max``; the message names the fix.
    """
    sig = np.asarray(sigma, dtype=np.float64)
    if n_min < 1 or n_min > n_max:
        raise ValueError(f"need 1 <= n_min <= n_max, got n_min={n_min}, n_max={n_max}; fix curriculum.n_min/n_max")
    if sig.ndim != 1 or sig.size == 0:
        raise ValueError(f"sigma must be a non-empty 1-D array, got shape {sig.shape}")
    m = sig.size
    if not m * n_min <= budget <= m * n_max:
        raise ValueError(
            f"rollout budget N={budget} is outside [m·n_min, m·n_max] = [{m * n_min}, {m * n_max}] for m={m}; "
            "set n_min <= N/m <= n_max (curriculum.n_min, curriculum.n, curriculum.n_max)"
        )
    return allocate_with_floors(sig, budget, np.full(m, n_min, dtype=np.int64), n_max)


class BetaPosterior:
    """Per-prompt Beta(α, β) accuracy posterior with forgetting (CurES Eq. 22–24; docs/cures.md).

    On a visit with s successes of n: ``α ← α0 + λ(α − α0) + s``, ``β ← β0 + λ(β − β0) + n − s`` (λ = ``forget``
    shrinks old evidence toward the prior, never the prior itself). Arrays are float64, shape ``(P,)``.
    """

    def __init__(self, num_prompts: int, alpha0: float = 1.0, beta0: float = 1.0, forget: float = 1.0) -> None:
        if num_prompts < 1:
            raise ValueError(f"num_prompts must be >= 1, got {num_prompts}")
        if not (alpha0 > 0 and beta0 > 0):
            raise ValueError(f"prior must have alpha0, beta0 > 0, got ({alpha0}, {beta0}); set curriculum.alpha0/beta0")
        if not 0.0 <= forget <= 1.0:
            raise ValueError(f"forget must lie in [0, 1], got {forget}; set curriculum.forget (1.0 = no forgetting)")
        self.num_prompts = int(num_prompts)
        self.alpha0, self.beta0, self.forget = float(alpha0), float(beta0), float(forget)
        self.alpha = np.full(self.num_prompts, self.alpha0)
        self.beta = np.full(self.num_prompts, self.beta0)
        self.visits = np.zeros(self.num_prompts, dtype=np.int64)

    def update(self, indices: np.ndarray, successes: np.ndarray, trials: np.ndarray) -> np.ndarray:
        """Apply one step's evidence; repeated indices accumulate into one visit.

        Args:
            indices: prompt indices, shape ``(k,)``; successes, trials: same shape, 0 <= s <= n.

        Returns:
            The sorted unique indices updated (int64), for cache refreshes.
        """
        idx = np.asarray(indices, dtype=np.int64)
        s = np.asarray(successes, dtype=np.float64)
        n = np.asarray(trials, dtype=np.float64)
        if not (idx.shape == s.shape == n.shape) or idx.ndim != 1:
            raise ValueError(
                f"indices, successes, trials must be 1-D of equal length: {idx.shape}, {s.shape}, {n.shape}"
            )
        if idx.size == 0:
            return idx
        if idx.min() < 0 or idx.max() >= self.num_prompts:
            raise ValueError(f"indices must lie in [0, {self.num_prompts}); check extra_info.index of the data")
        if np.any(s < 0) or np.any(s > n):
            raise ValueError("need 0 <= successes <= trials for every group")
        uniq, inv = np.unique(idx, return_inverse=True)
        s_u = np.bincount(inv, weights=s, minlength=uniq.size)
        n_u = np.bincount(inv, weights=n, minlength=uniq.size)
        lam = self.forget
        self.alpha[uniq] = self.alpha0 + lam * (self.alpha[uniq] - self.alpha0) + s_u
        self.beta[uniq] = self.beta0 + lam * (self.beta[uniq] - self.beta0) + (n_u - s_u)
        self.visits[uniq] += 1
        return uniq

    def mean(self, indices: np.ndarray | None = None) -> np.ndarray:
        """Posterior mean p̂ = α/(α+β), shape ``(P,)`` or ``indices.shape``."""
        if indices is None:
            return self.alpha / (self.alpha + self.beta)
        a, b = self.alpha[indices], self.beta[indices]
        return a / (a + b)

    def reset(self) -> None:
        """Back to the prior everywhere (``schedule=subsets``)."""
        self.alpha.fill(self.alpha0)
        self.beta.fill(self.beta0)
        self.visits.fill(0)

    def state_dict(self) -> dict[str, Any]:
        """Copies of α, β, visits and the hyper-parameters."""
        return {
            "alpha": self.alpha.copy(),
            "beta": self.beta.copy(),
            "visits": self.visits.copy(),
            "alpha0": self.alpha0,
            "beta0": self.beta0,
            "forget": self.forget,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; the pool size must match. Hyper-parameters keep the current config's."""
        alpha = np.asarray(state["alpha"], dtype=np.float64)
        if alpha.shape != (self.num_prompts,):
            raise ValueError(
                f"checkpointed posterior covers {alpha.shape[0]} prompts but the pool has {self.num_prompts}; "
                "resume with the same data.train_files"
            )
        self.alpha = alpha.copy()
        self.beta = np.asarray(state["beta"], dtype=np.float64).copy()
        self.visits = np.asarray(state["visits"], dtype=np.int64).copy()


class GradNormMoments:
    """Per-prompt gradient-norm moments for the ``gradnorm`` σ (CurES Eq. 21; docs/cures.md).

    For each prompt, from its last measured visit: mean and mean square of the per-trajectory norms of correct
    (M1c, M2c) and wrong (M1w, M2w) responses, float32, NaN when that class was absent. Global running sums per
    class back up missing classes; never-measured prompts use ``G_rms·sqrt(E[p(1−p)])``.
    """

    def __init__(self, num_prompts: int) -> None:
        self.num_prompts = int(num_prompts)
        self.moments = np.full((4, self.num_prompts), np.nan, dtype=np.float32)  # M1c, M2c, M1w, M2w
        self.global_sums = np.zeros((2, 3), dtype=np.float64)  # per class (c, w): count, Σg, Σg²

    def update(self, indices: np.ndarray, norms: np.ndarray, correct: np.ndarray) -> None:
        """Record one visit's per-trajectory norms, shapes ``(T,)``; overwrites the prompts' previous moments."""
        idx = np.asarray(indices, dtype=np.int64)
        g = np.asarray(norms, dtype=np.float64)
        ok = np.asarray(correct, dtype=bool)
        if not (idx.shape == g.shape == ok.shape) or idx.ndim != 1:
            raise ValueError("indices, norms, correct must be 1-D arrays of equal length (one entry per trajectory)")
        if idx.size == 0:
            return
        if idx.min() < 0 or idx.max() >= self.num_prompts or not np.all(np.isfinite(g)) or np.any(g < 0):
            raise ValueError("gradient norms must be finite and >= 0 with indices inside the pool")
        uniq, inv = np.unique(idx, return_inverse=True)
        for cls, mask in enumerate((ok, ~ok)):
            cnt = np.bincount(inv[mask], minlength=uniq.size).astype(np.float64)
            m1 = np.bincount(inv[mask], weights=g[mask], minlength=uniq.size)
            m2 = np.bincount(inv[mask], weights=g[mask] ** 2, minlength=uniq.size)
            with np.errstate(invalid="ignore", divide="ignore"):
                self.moments[2 * cls, uniq] = np.where(cnt > 0, m1 / cnt, np.nan)
                self.moments[2 * cls + 1, uniq] = np.where(cnt > 0, m2 / cnt, np.nan)
            self.global_sums[cls] += (cnt.sum(), m1.sum(), m2.sum())

    def sigma(self, indices: np.ndarray, p_hat: np.ndarray, fallback_sigma: np.ndarray) -> np.ndarray:
        """σ_i = sqrt(max(0, p(1−p)²M2c + p²(1−p)M2w − p²(1−p)²(M1c − M1w)²)), shape ``(k,)``.

        ``fallback_sigma`` (e.g. :func:`bernoulli_sigma`) times G_rms is used for never-measured prompts.
        """
        idx = np.asarray(indices, dtype=np.int64)
        mom = self.moments[:, idx].astype(np.float64)
        total = self.global_sums.sum(axis=0)
        g_rms = np.sqrt(total[2] / total[0]) if total[0] > 0 else 1.0
        for cls in range(2):
            cnt, s1, s2 = self.global_sums[cls] if self.global_sums[cls, 0] > 0 else total
            fill = (s1 / cnt, s2 / cnt) if cnt > 0 else (0.0, 0.0)
            for j in range(2):
                row = mom[2 * cls + j]
                row[np.isnan(row)] = fill[j]
        measured = ~(np.isnan(self.moments[0, idx]) & np.isnan(self.moments[2, idx]))
        p = np.asarray(p_hat, dtype=np.float64)
        q = 1.0 - p
        var = p * q * q * mom[1] + p * p * q * mom[3] - (p * q) ** 2 * (mom[0] - mom[2]) ** 2
        return np.where(measured, np.sqrt(np.maximum(var, 0.0)), g_rms * np.asarray(fallback_sigma, dtype=np.float64))

    def state_dict(self) -> dict[str, Any]:
        """Copies of the moment arrays."""
        return {"moments": self.moments.copy(), "global_sums": self.global_sums.copy()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        moments = np.asarray(state["moments"], dtype=np.float32)
        if moments.shape != self.moments.shape:
            raise ValueError(f"checkpointed gradnorm moments have shape {moments.shape}, expected {self.moments.shape}")
        self.moments = moments.copy()
        self.global_sums = np.asarray(state["global_sums"], dtype=np.float64).copy()


# The name under which every CurES variant used to be registered (with ``params.mode`` = paper | release).
LEGACY_NAME = "cures"
_LEGACY_MODES = {"paper": "cures_online", "release": "cures_release"}


def legacy_checkpoint_message(name: str, params: Mapping[str, Any] | None) -> str | None:
    """For a checkpoint fingerprint ``(name, params)`` written under the old single ``cures`` strategy, the message
    naming the strategy it is now; ``None`` for any other fingerprint.

    ``cures`` with ``mode: paper`` (the default) is today's ``cures_online`` (the project's streaming variant, not the
    paper's Algorithm 1, which is ``cures_algorithm1``); ``mode: release`` is ``cures_release``.
    """
    if name != LEGACY_NAME:
        return None
    mode = str((params or {}).get("mode", "paper"))
    new = _LEGACY_MODES.get(mode, "cures_online")
    return (
        f"this checkpoint was written by the old curriculum.name='cures' with mode={mode!r}, which is now the "
        f"strategy {new!r} (curriculum={new}; the paper's Algorithm 1 is 'cures_algorithm1'). The old name no longer "
        f"exists and its state is not converted: start a fresh run with curriculum={new} "
        "(trainer.resume_mode=disable), or resume this checkpoint with the code revision that wrote it"
    )


def subset_bounds(num_prompts: int, subset_sizes: Sequence[int] | None, num_subsets: int) -> np.ndarray:
    """Start offsets of contiguous subsets plus the end, int64 shape ``(S+1,)``.

    ``subset_sizes`` (must sum to ``num_prompts``) or else ``num_subsets`` near-equal parts in pool order.
    """
    if subset_sizes is not None:
        sizes = np.asarray(subset_sizes, dtype=np.int64)
        if int(sizes.sum()) != num_prompts:
            raise ValueError(
                f"curriculum.subset_sizes sum to {int(sizes.sum())} but the pool has {num_prompts} prompts; fix them"
            )
    else:
        if num_subsets > num_prompts:
            raise ValueError(f"curriculum.num_subsets={num_subsets} exceeds the pool of {num_prompts} prompts")
        sizes = np.diff(np.linspace(0, num_prompts, num_subsets + 1).round().astype(np.int64))
    return np.concatenate([[0], np.cumsum(sizes)])


@dataclasses.dataclass
class CuresCommonConfig(CurriculumConfig):
    """Fields shared by ``cures_algorithm1`` and ``cures_online`` (docs/cures.md). ``n`` is the mean budget n_budget
    (N = m·n responses per step).

    Attributes:
        tau: ρ* temperature of Eq. 14 (>= 1e-3; ``inf`` = uniform sampling). The paper gives no value; 0.1 assumed.
        sigma: σ estimator of the Eq. 20 allocation: ``bernoulli`` (sqrt(E[p(1−p)]) under the posterior) or
            ``gradnorm`` (Eq. 21; only where the strategy implements it).
        n_min, n_max: per-prompt floor and ceiling of the allocation (ours: the paper has none; n = 1 would give
            GRPO singleton groups).
        alpha0, beta0: Beta prior of Eq. 22.
    """

    n: int = 8
    tau: float = 0.1
    sigma: str = "bernoulli"
    n_min: int = 2
    n_max: int = 32
    alpha0: float = 1.0
    beta0: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sigma not in ("bernoulli", "gradnorm"):
            raise ValueError(f"curriculum.sigma={self.sigma!r} is invalid; use one of ('bernoulli', 'gradnorm')")
        self.tau = float(self.tau)
        if not self.tau >= MIN_TAU:
            raise ValueError(
                f"curriculum.tau={self.tau} must be >= {MIN_TAU} (or inf for uniform); raise curriculum.tau"
            )
        if not 2 <= self.n_min <= self.n <= self.n_max:
            raise ValueError(
                f"need 2 <= n_min <= n_budget <= n_max, got n_min={self.n_min}, n_budget={self.n} "
                f"(actor_rollout_ref.rollout.n), n_max={self.n_max}; adjust curriculum.n_min or curriculum.n_max "
                "(n = 1 would give singleton groups)"
            )
        if self.alpha0 <= 0 or self.beta0 <= 0:
            raise ValueError(f"curriculum.alpha0/beta0 must be > 0, got {self.alpha0}/{self.beta0}")
