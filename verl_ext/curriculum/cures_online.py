"""``cures_online``: the project's streaming CurES variant (docs/cures.md "cures_online").

Not the paper's Algorithm 1 (that is ``cures_algorithm1``): one run over the whole pool with no pilot and no
per-subset reset; a Beta posterior per prompt (Eq. 22–24) updated from the training rollouts every step; m
*distinct* prompts drawn ∝ ρ* (Eq. 14); Neyman allocation (Eq. 20) per batch with Σ n_i = N in [n_min, n_max], and
never-seen prompts floored at ``pilot_n`` responses (their first observation). Formerly ``curriculum.name=cures``
with ``mode: paper``.

With ``prior.source: value_model`` (ours, docs/value_prior.md; needs ``cold_start: prior``) every prompt of a step's
m draws that has no prior yet is scored by PCL's value model right after the draw and before the allocation, and
gets the prior Beta(c·V, c·(1 − V)) (V clipped to [ε, 1 − ε]) in place of the pilot floor; its ρ* weight is refreshed
at once, counts observed later are added on top, and a subset reset (``schedule: subsets``) drops the priors.

Per step cost is kept O(m log P): the ρ* weights live in a :class:`~verl_ext.curriculum.sumtree.SumTree`;
only prompts whose posterior changed are refreshed (full recompute on load), and m distinct prompts are drawn
by successive sampling (i.i.d. draws ∝ ρ*, duplicates discarded; already chosen prompts are zeroed between
rounds, which leaves the distribution of the sequence unchanged and keeps rounds few when ρ* is peaked).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from verl_ext.curriculum.base import Curriculum, Group, RolloutContext, register_curriculum
from verl_ext.curriculum.cures import (
    BetaPosterior,
    CuresCommonConfig,
    legacy_checkpoint_message,
    log_weights,
    subset_bounds,
)
from verl_ext.curriculum.parts.allocators import NeymanAllocator, neyman_sigma
from verl_ext.curriculum.parts.estimators import Estimate
from verl_ext.curriculum.sumtree import SumTree
from verl_ext.curriculum.uniform import group_counts
from verl_ext.curriculum.value_prior import PriorBetaPosterior, PriorConfig, ValuePriorCapable, seed_prior

__all__ = ["CuresOnlineCurriculum", "CuresOnlineConfig", "draw_distinct"]

logger = logging.getLogger(__name__)

_MAX_DRAW_ROUNDS = 10_000


def draw_distinct(tree: SumTree, m: int, rng: np.random.Generator) -> np.ndarray:
    """m distinct leaf positions by successive sampling ∝ the tree's weights, in draw order, shape ``(m,)``.

    The tree is restored exactly (internal sums recomputed from identical leaves) before returning.
    """
    positive = int(np.count_nonzero(tree.leaves > 0))
    if positive < m:
        raise ValueError(f"cannot draw {m} distinct prompts: only {positive} have positive weight; lower batch size")
    chosen: list[np.ndarray] = []
    have = 0
    zeroed: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(_MAX_DRAW_ROUNDS):
        need = m - have
        draws = tree.sample(need, rng)
        _, first = np.unique(draws, return_index=True)
        new = draws[np.sort(first)][:need]  # first occurrences in stream order = successive sampling
        chosen.append(new)
        have += new.size
        if have == m:
            break
        # Chosen prompts leave the urn: equivalent to discarding their repeats, but terminates fast when peaked.
        zeroed.append((new, tree.leaves[new].copy()))
        tree.update(new, 0.0)
    else:
        raise RuntimeError(f"successive sampling did not find {m} distinct prompts in {_MAX_DRAW_ROUNDS} rounds")
    for pos, w in reversed(zeroed):
        tree.update(pos, w)
    return np.concatenate(chosen).astype(np.int64)


@dataclasses.dataclass
class CuresOnlineConfig(CuresCommonConfig):
    """``cures_online`` options (docs/cures.md), on top of :class:`~verl_ext.curriculum.cures.CuresCommonConfig`.

    Attributes:
        sampling: draw ∝ ρ* (False: uniform draws, the allocation-only ablation).
        allocation: Neyman allocation (False: n responses each, the sampling-only ablation).
        pilot_n: floor of never-seen prompts when ``cold_start=pilot``.
        cold_start: ``pilot`` or ``prior`` (floor n_min for never-seen prompts).
        forget: λ of the posterior update (1 = no forgetting).
        schedule: ``pool`` (one run over the whole pool) or ``subsets`` (pool = subset ⌈t/steps_per_subset⌉,
            posterior reset at each subset change; no pilot).
        subset_sizes: contiguous subset sizes in pool order (None: ``num_subsets`` near-equal parts).
        prior: ``{source: none|value_model, strength: c, eps: ε}`` (:class:`PriorConfig`; ``none``: Beta(alpha0,
            beta0) for every prompt; ``value_model``: docs/value_prior.md, with ``cold_start: prior``).
    """

    pilot_n: int = 4
    cold_start: str = "pilot"
    sampling: bool = True
    allocation: bool = True
    forget: float = 1.0
    schedule: str = "pool"
    subset_sizes: list[int] | None = None
    num_subsets: int = 15
    steps_per_subset: int = 10
    prior: PriorConfig = dataclasses.field(default_factory=PriorConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.prior = CuresOnlineCurriculum.prior_of({"prior": self.prior})
        if self.prior.source == "value_model" and self.cold_start != "prior":
            raise ValueError(
                "curriculum.params.prior.source=value_model replaces the pilot floor of never-seen prompts: set "
                f"curriculum.params.cold_start=prior (got {self.cold_start!r}; valid with a value prior: 'prior')"
            )
        if self.sigma != "bernoulli":
            raise ValueError(
                f"curriculum.sigma={self.sigma!r} is not implemented for cures_online (nothing measures gradient norms "
                "of its training rollouts); valid: 'bernoulli'. The paper's gradient-norm σ (Eq. 21) is "
                "curriculum=cures_algorithm1 with sigma=gradnorm"
            )
        for key, valid in {"cold_start": ("pilot", "prior"), "schedule": ("pool", "subsets")}.items():
            if getattr(self, key) not in valid:
                raise ValueError(f"curriculum.{key}={getattr(self, key)!r} is invalid; use one of {valid}")
        if not self.n_min <= self.pilot_n <= self.n:
            raise ValueError(
                f"need n_min <= pilot_n <= n_budget, got n_min={self.n_min}, pilot_n={self.pilot_n}, "
                f"n_budget={self.n} (actor_rollout_ref.rollout.n); adjust curriculum.pilot_n"
            )
        if not 0.0 <= self.forget <= 1.0:
            raise ValueError(f"curriculum.forget={self.forget} must lie in [0, 1] (1 = no forgetting)")
        if self.num_subsets < 1 or self.steps_per_subset < 1:
            raise ValueError("curriculum.num_subsets and curriculum.steps_per_subset must be >= 1")
        if self.subset_sizes is not None and (len(self.subset_sizes) == 0 or min(self.subset_sizes) < 1):
            raise ValueError("curriculum.subset_sizes must be a non-empty list of positive sizes (or null)")


@register_curriculum("cures_online")
class CuresOnlineCurriculum(ValuePriorCapable, Curriculum):
    """``cures_online``: one ``numpy.random.Generator`` seeded by ``config.seed``; weights in a sum tree."""

    config_class = CuresOnlineConfig
    prior_metric_prefix = "cures"

    def __init__(self, config: CuresOnlineConfig, num_prompts: int) -> None:
        super().__init__(config, num_prompts)
        self.config: CuresOnlineConfig = config
        if config.batch_size > num_prompts:
            raise ValueError(f"batch_size={config.batch_size} exceeds the pool of {num_prompts} prompts")
        self.rng = np.random.default_rng(config.seed)
        posterior = PriorBetaPosterior if config.prior.source == "value_model" else BetaPosterior
        self.posterior = posterior(num_prompts, config.alpha0, config.beta0, config.forget)
        self.last_step = np.zeros(num_prompts, dtype=np.int64)
        subsets = config.schedule == "subsets"
        self.bounds = subset_bounds(num_prompts, config.subset_sizes, config.num_subsets) if subsets else None
        if self.bounds is not None and int(np.diff(self.bounds).min()) < config.batch_size:
            raise ValueError("a subset is smaller than batch_size; lower data.train_batch_size or merge subsets")
        self.subset = 0  # 1-based subset in use; 0 = none yet
        self.step = 0
        self.allocated: dict[str, int] = {}
        self._tau = self._effective_tau()
        self.tree = SumTree(self._full_weights())
        self._update_s = 0.0

    # ------------------------------------------------------------------------------------------ weights
    def _effective_tau(self) -> float:
        return self.config.tau if self.config.sampling else float("inf")

    def _mask(self, positions: np.ndarray) -> np.ndarray:
        if self.bounds is None or self.subset == 0:
            return np.ones(positions.shape, dtype=bool)
        lo, hi = self.bounds[self.subset - 1], self.bounds[self.subset]
        return (positions >= lo) & (positions < hi)

    def _full_weights(self) -> np.ndarray:
        w = np.exp(log_weights(self.posterior.mean(), self._tau))
        return np.where(self._mask(np.arange(self.num_prompts)), w, 0.0)

    def _refresh(self, positions: np.ndarray) -> None:
        """Recompute the weights of ``positions`` only (same formula as the full recompute, bit for bit)."""
        w = np.exp(log_weights(self.posterior.mean(positions), self._tau))
        self.tree.update(positions, np.where(self._mask(positions), w, 0.0))

    def rebuild(self) -> None:
        """Full recompute of every weight (load, τ change, subset change)."""
        self._tau = self._effective_tau()
        self.tree.rebuild(self._full_weights())

    # --------------------------------------------------------------------------------------------- step
    def _enter_subset(self, step: int) -> None:
        if self.bounds is None:
            return
        subset = min((step - 1) // self.config.steps_per_subset + 1, self.bounds.size - 1)
        if subset != self.subset:
            logger.info("CurES schedule=subsets: step %d enters subset %d (posterior reset)", step, subset)
            self.subset = subset
            self.posterior.reset()
            self.rebuild()

    def run_step(self, ctx: RolloutContext) -> dict[str, float]:
        """Draw m prompts ∝ ρ*, allocate N = m·n responses (floors by cold start), submit and commit."""
        cfg = self.config
        self.step = int(ctx.step)
        self._enter_subset(self.step)
        t0 = time.perf_counter()
        if self._tau != self._effective_tau():
            self.rebuild()
        idx = draw_distinct(self.tree, cfg.batch_size, self.rng)
        prior = {}
        if isinstance(self.posterior, PriorBetaPosterior):
            prior = seed_prior(self.posterior, ctx, idx, cfg.prior, self.prior_metric_prefix)
            self._refresh(np.sort(idx))
        # the neyman allocator of the composable parts: σ = √(E[p(1−p)]) under Beta(α, β), Eq. 20 with floors
        post = self.posterior
        est = Estimate(post.mean(idx), post.alpha[idx], post.beta[idx], post.visits[idx])
        neyman = NeymanAllocator(cfg.n, cfg.n_min, cfg.n_max, cfg.pilot_n if cfg.cold_start == "pilot" else None)
        sigma, lo = neyman_sigma(est), neyman.floors(est)
        n = neyman.allocate(est, cfg.batch_size * cfg.n) if cfg.allocation else np.full(idx.size, cfg.n, np.int64)
        select_s = time.perf_counter() - t0 + self._update_s
        groups = ctx.submit(idx, n)
        ctx.commit(groups)
        self.allocated = {g.handle: int(k) for g, k in zip(groups, n, strict=True)}
        t1 = time.perf_counter()
        metrics = self._batch_metrics(idx, n, lo, sigma)
        metrics.update(self._pool_metrics())
        metrics["cures/select_s"] = select_s
        metrics["cures/metrics_s"] = time.perf_counter() - t1
        metrics.update(prior)
        return metrics

    def observe(self, trained: Sequence[Group], screened: Sequence[Group] = ()) -> dict[str, float]:
        """Posterior update from the trained groups (s = #reward > 0.5) and incremental weight refresh."""
        t0 = time.perf_counter()
        idx, n, s = group_counts(trained)
        changed = self.posterior.update(idx, s, n)
        self.last_step[changed] = self.step
        self._refresh(changed)
        self._update_s = time.perf_counter() - t0
        mismatch = sum(abs(g.n - self.allocated[g.handle]) for g in trained if g.handle in self.allocated)
        return {"cures/update_s": self._update_s, "cures/n_mismatch": float(mismatch)}

    # ------------------------------------------------------------------------------------------ metrics
    def _batch_metrics(self, idx: np.ndarray, n: np.ndarray, lo: np.ndarray, sigma: np.ndarray) -> dict[str, float]:
        p = self.posterior.mean(idx)
        out = {
            "cures/phat_batch_mean": float(p.mean()),
            "cures/alloc_min": float(n.min()),
            "cures/alloc_mean": float(n.mean()),
            "cures/alloc_max": float(n.max()),
            "cures/alloc_frac_at_min": float(np.mean(n == lo)),
            "cures/alloc_frac_at_max": float(np.mean(n == self.config.n_max)),
            "cures/alloc_cold": float(np.sum(self.posterior.visits[idx] == 0)),
        }
        for name, other in (("alloc_corr_phat", p), ("alloc_corr_sigma", sigma)):
            if n.std() > 0 and other.std() > 0:  # Pearson r is undefined for a constant vector: omit the key
                out[f"cures/{name}"] = float(np.corrcoef(n, other)[0, 1])
        return out

    def _pool_metrics(self) -> dict[str, float]:
        pool = np.arange(self.num_prompts)
        if self.bounds is not None and self.subset > 0:
            pool = pool[self.bounds[self.subset - 1] : self.bounds[self.subset]]
        p = self.posterior.mean()[pool]
        q = np.quantile(p, [0.05, 0.25, 0.5, 0.75, 0.95])
        w = self.tree.leaves[pool]
        rho = w / w.sum()
        pos = rho[rho > 0]
        entropy = float(-(pos * np.log(pos)).sum())
        ess = float(1.0 / np.square(rho).sum())
        out = {f"cures/phat_q{k:02d}": float(v) for k, v in zip((5, 25, 50, 75, 95), q, strict=True)}
        out.update(
            {
                "cures/frac_seen": float(np.mean(self.posterior.visits[pool] > 0)),
                "cures/rho_entropy": entropy,
                "cures/rho_entropy_norm": entropy / np.log(pool.size) if pool.size > 1 else 1.0,
                "cures/rho_ess": ess,
                "cures/rho_ess_frac": ess / pool.size,
                "cures/rho_max_min": float(w.max() / w.min()) if w.min() > 0 else float("inf"),
            }
        )
        return out

    # ---------------------------------------------------------------------------------------------- state
    def fingerprint(self) -> str:
        """Hash of the config fields that change what a checkpoint means (not τ: a τ change is allowed)."""
        return self.config_fingerprint(
            ("alpha0", "beta0", "sigma", "schedule", "subset_sizes", "num_subsets", "steps_per_subset", "seed")
        )

    def predicted_success(self, indices: np.ndarray) -> np.ndarray:
        """The posterior mean α/(α+β) of ``indices`` (the p̂ of ρ*, Eq. 14), float64, shape ``(k,)``."""
        return self.posterior.mean(np.asarray(indices, dtype=np.int64))

    def state_dict(self) -> dict[str, Any]:
        """Posterior, last-visit steps, RNG, step/subset and pool size."""
        return {
            "num_prompts": self.num_prompts,
            "fingerprint": self.fingerprint(),
            "rng": self.rng.bit_generator.state,
            "posterior": self.posterior.state_dict(),
            "last_step": self.last_step.copy(),
            "step": self.step,
            "subset": self.subset,
            "update_s": self._update_s,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` and recompute every weight (τ may differ from the saved run's).

        A state written by the old ``cures`` strategy (it carries ``mode``) is refused naming the new strategy.
        """
        if "mode" in state:
            raise ValueError(legacy_checkpoint_message("cures", {"mode": state["mode"]}))
        if int(state["num_prompts"]) != self.num_prompts:
            raise ValueError(
                f"checkpoint has a pool of {state['num_prompts']} prompts, this run {self.num_prompts}; "
                "resume with the same data.train_files"
            )
        if state["fingerprint"] != self.fingerprint():
            raise ValueError(
                "curriculum state was written with different cures_online prior/sigma/schedule/seed settings; "
                "resume with the original curriculum.* values"
            )
        self.rng.bit_generator.state = state["rng"]
        self.posterior.load_state_dict(state["posterior"])
        self.last_step = np.asarray(state["last_step"], dtype=np.int64).copy()
        self.step = int(state["step"])
        self.subset = int(state["subset"])
        self._update_s = float(state["update_s"]) if "update_s" in state else float(state["update_ms"]) / 1e3
        self.rebuild()
