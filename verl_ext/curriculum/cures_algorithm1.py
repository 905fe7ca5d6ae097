"""``cures_algorithm1``: CurES Algorithm 1 (arXiv 2510.01037 §4.3) as one training run (docs/cures.md).

For each of T subsets D_1..D_T (the NuminaMath subsets marked by ``extra_info.subset`` with ``subsets: data``, or
near-equal contiguous splits of the pool with ``subsets: equal``), M = ``steps_per_subset`` steps:

1. **First step of subset t** (Algorithm 1, lines 3–8): every estimate of the previous subset is reset; N' =
   ``pilot_n`` responses are generated for *every* prompt of D_t through the trainer's rollout (``ctx.generate``:
   counted in the step's generation rounds, responses and time); the counts give Beta(α0 + s, β0 + N' − s)
   (Eq. 22). With ``sigma: gradnorm`` the per-trajectory gradient norms of these pilot responses are measured at
   the pre-update weights by the attached producer (the trainer extension, on the actor worker) and kept as the
   per-prompt moments of Eq. 21. The pilot responses are released (not trained on) unless ``train_on_pilot``.
2. **Every step** (lines 10–16): ρ* over D_t (Eq. 14, p̂ = posterior mean); m = ``data.train_batch_size`` draws
   **with replacement**; σ_i per draw (Eq. 21 from the pilot moments and the current p̂, or the Bernoulli σ);
   Neyman allocation (Eq. 20) over the m draws with Σ n_i = N = m·n exactly (floor ``n_min``, ceiling ``n_max``:
   ours, the paper has none); the training rollouts update the counts (Eq. 23) in :meth:`observe`.

**Value-model prior** (``prior.source: value_model``; ours, docs/value_prior.md): step 1 of subset t still resets
every estimate, but instead of the pilot (no pilot rollouts at all) the subset's prompts are scored by PCL's value
model and start from Beta(c·V, c·(1 − V)) (V clipped to [ε, 1 − ε]); the Eq. 23 counts are added on top. It needs
``sigma: bernoulli`` (the gradnorm σ is measured on pilot rollouts). ``prior.source: none`` resets to Beta(α0, β0)
without a pilot (an ablation).

**A prompt drawn k > 1 times** becomes ONE GRPO group whose size is the sum of its k draws' allocations (the released
code likewise gives a prompt s copies under one uid). Its group baseline then averages over all its responses; the
ceiling ``n_max`` applies per draw, so a merged group may exceed it. The step trains ``len(unique(draws))`` groups
and exactly N responses.

Algorithm 1 resets no optimizer and no reference policy between subsets; neither does this strategy (the released
pipeline, ``cures_release``, does, by starting a new run per subset).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from verl_ext.curriculum.base import Curriculum, Group, RolloutContext, register_curriculum
from verl_ext.curriculum.cures import (
    BetaPosterior,
    CuresCommonConfig,
    GradNormMoments,
    allocate_with_floors,
    bernoulli_sigma,
    sampling_probs,
    subset_bounds,
)
from verl_ext.curriculum.uniform import group_counts
from verl_ext.curriculum.value_prior import PriorBetaPosterior, PriorConfig, ValuePriorCapable, seed_prior

__all__ = ["GRADNORM_PRODUCER", "CuresAlgorithm1Curriculum", "CuresAlgorithm1Config", "GradNormProducer", "merge_draws"]

logger = logging.getLogger(__name__)

# Per pilot group (in the order given), one gradient norm per response, in the order of ``group.rewards``.
GradNormProducer = Callable[[Sequence[Group]], Sequence[np.ndarray]]

# Who attaches the producer in a real run (named in the error when none is attached).
GRADNORM_PRODUCER = (
    "the trainer extension verl_ext.workers.gradnorm_extension:CuresGradNormExtension "
    "(declared by CuresAlgorithm1Curriculum.extension)"
)
GRADNORM_PARAMS = ("lm_head",)


def merge_draws(draws: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One group per distinct drawn prompt, in first-draw order, with the summed allocation of its draws.

    Args:
        draws: drawn prompt indices (with repeats), shape ``(m,)``.
        counts: the allocation of each draw, shape ``(m,)``.

    Returns:
        ``(indices, n)``, int64, shape ``(u,)`` with u distinct prompts; ``n.sum() == counts.sum()``.
    """
    d = np.asarray(draws, dtype=np.int64)
    c = np.asarray(counts, dtype=np.int64)
    if d.shape != c.shape or d.ndim != 1:
        raise ValueError(f"draws and counts must be 1-D of equal length, got {d.shape} and {c.shape}")
    uniq, first, inv = np.unique(d, return_index=True, return_inverse=True)
    summed = np.bincount(inv, weights=c, minlength=uniq.size).astype(np.int64)
    order = np.argsort(first, kind="stable")
    return uniq[order], summed[order]


@dataclasses.dataclass
class CuresAlgorithm1Config(CuresCommonConfig):
    """``cures_algorithm1`` options (docs/cures.md), on top of :class:`~verl_ext.curriculum.cures.CuresCommonConfig`.

    Attributes:
        sigma: ``gradnorm`` (default, the paper's Eq. 21) or ``bernoulli`` (a named ablation).
        pilot_n: N', pilot responses per prompt of the subset (Eq. 22's initial counts; 4 in the paper).
        subsets: ``data`` (subset t = the t-th smallest ``extra_info.subset`` value, set by the trainer extension)
            or ``equal`` (``num_subsets`` near-equal contiguous splits of the pool).
        num_subsets: T. With ``subsets: data`` it must equal the number of distinct labels in the data.
        steps_per_subset: M, training steps per subset (the run lasts T·M steps).
        train_on_pilot: also train on the pilot responses at the subset's first step (one extra group per prompt of
            the subset; off in the paper's reading).
        gradnorm_params: parameters whose per-trajectory gradient norm σ uses; ``lm_head`` (the output projection).
        prior: ``{source: pilot|value_model|none, strength: c, eps: ε}`` (:class:`PriorConfig`): what starts a
            subset's estimates: the N' pilot (default, the paper), PCL's value model (docs/value_prior.md) or the flat
            Beta(alpha0, beta0). ``pilot_n`` and ``train_on_pilot`` only act with ``pilot``.
    """

    sigma: str = "gradnorm"
    pilot_n: int = 4
    subsets: str = "equal"
    num_subsets: int = 15
    steps_per_subset: int = 10
    train_on_pilot: bool = False
    gradnorm_params: str = "lm_head"
    prior: PriorConfig = dataclasses.field(default_factory=lambda: PriorConfig(source="pilot"))

    def __post_init__(self) -> None:
        super().__post_init__()
        self.prior = CuresAlgorithm1Curriculum.prior_of({"prior": self.prior})
        if self.prior.source != "pilot" and (self.sigma == "gradnorm" or self.train_on_pilot):
            raise ValueError(
                f"curriculum.params.prior.source={self.prior.source!r} runs no pilot, but sigma={self.sigma!r} / "
                f"train_on_pilot={self.train_on_pilot} need its rollouts: set curriculum.params.sigma=bernoulli and "
                "train_on_pilot=false, or prior.source=pilot"
            )
        if self.subsets not in ("data", "equal"):
            raise ValueError(f"curriculum.subsets={self.subsets!r} is invalid; use one of ('data', 'equal')")
        if self.num_subsets < 1 or self.steps_per_subset < 1:
            raise ValueError("curriculum.num_subsets and curriculum.steps_per_subset must be >= 1")
        if self.pilot_n < 1 or (self.train_on_pilot and self.pilot_n < 2):
            raise ValueError(
                f"curriculum.pilot_n={self.pilot_n} must be >= 1 (>= 2 with train_on_pilot: a trained group of one "
                "response gets its raw reward as GRPO advantage)"
            )
        if self.gradnorm_params not in GRADNORM_PARAMS:
            raise ValueError(
                f"curriculum.gradnorm_params={self.gradnorm_params!r} is not implemented; valid: {GRADNORM_PARAMS}"
            )


@register_curriculum("cures_algorithm1")
class CuresAlgorithm1Curriculum(ValuePriorCapable, Curriculum):
    """The state machine of Algorithm 1: subset t = ⌈step/M⌉, pilot + reset at its first step, then draws."""

    config_class = CuresAlgorithm1Config
    prior_sources = ("pilot", "value_model", "none")
    prior_default = "pilot"
    prior_metric_prefix = "cures"
    extension = "verl_ext.workers.gradnorm_extension:CuresGradNormExtension"  # per-trajectory gradient norms (Eq. 21)

    def __init__(self, config: CuresAlgorithm1Config, num_prompts: int) -> None:
        super().__init__(config, num_prompts)
        self.config: CuresAlgorithm1Config = config
        self.rng = np.random.default_rng(config.seed)
        posterior = PriorBetaPosterior if config.prior.source == "value_model" else BetaPosterior
        self.posterior = posterior(num_prompts, config.alpha0, config.beta0, forget=1.0)
        self.moments = GradNormMoments(num_prompts) if config.sigma == "gradnorm" else None
        self.producer: GradNormProducer | None = None
        self.labels: np.ndarray | None = None
        self._labels_hash: str | None = None
        self._members_cache: dict[int, np.ndarray] = {}
        if config.subsets == "equal":
            self._set_bounds(subset_bounds(num_prompts, None, config.num_subsets))
        self.subset = 0  # 1-based subset whose pilot has run; 0 = none yet
        self.step = 0
        self.allocated: dict[str, int] = {}
        self._pilot_handles: set[str] = set()

    # ------------------------------------------------------------------ wiring (trainer extension, tests)
    def set_subset_labels(self, labels: Sequence[Any]) -> None:
        """Per-prompt subset labels (``extra_info.subset`` in pool order), for ``subsets: data``.

        Subset t is the t-th smallest distinct label; their number must equal ``num_subsets``.
        """
        if self.config.subsets != "data":
            raise ValueError("set_subset_labels is only used with curriculum.subsets=data")
        arr = np.asarray(labels)
        if arr.shape != (self.num_prompts,):
            raise ValueError(f"need one subset label per prompt ({self.num_prompts}), got shape {arr.shape}")
        uniq = np.unique(arr)
        if uniq.size != self.config.num_subsets:
            raise ValueError(
                f"the data marks {uniq.size} subsets (extra_info.subset values {uniq[:20].tolist()}) but "
                f"curriculum.num_subsets={self.config.num_subsets}; set curriculum.num_subsets={uniq.size}"
            )
        digest = hashlib.sha256(np.ascontiguousarray(np.searchsorted(uniq, arr)).tobytes()).hexdigest()[:16]
        if self._labels_hash is not None and self._labels_hash != digest:
            raise ValueError("the data's subset labels differ from the checkpointed run's; resume with the same data")
        self.labels = np.searchsorted(uniq, arr).astype(np.int64) + 1  # 1..T
        self._labels_hash = digest
        self._members_cache = {}

    def set_gradnorm_producer(self, producer: GradNormProducer | None) -> None:
        """Attach the function measuring per-trajectory gradient norms of pilot groups (``sigma: gradnorm``)."""
        self.producer = producer

    def _set_bounds(self, bounds: np.ndarray) -> None:
        self._members_cache = {t: np.arange(bounds[t - 1], bounds[t], dtype=np.int64) for t in range(1, bounds.size)}

    def members(self, subset: int) -> np.ndarray:
        """Dataset indices of subset ``subset`` (1-based), sorted, int64."""
        if subset not in self._members_cache:
            if self.labels is None:
                raise RuntimeError(
                    "curriculum.subsets=data but no subset labels were attached: the trainer extension "
                    f"({GRADNORM_PRODUCER}) reads them from extra_info.subset; or use curriculum.subsets=equal"
                )
            self._members_cache[subset] = np.flatnonzero(self.labels == subset).astype(np.int64)
        return self._members_cache[subset]

    def subset_of(self, step: int) -> int:
        """Subset t = ⌈step/M⌉ of a 1-based step; a step past T·M is refused."""
        cfg = self.config
        t = (int(step) - 1) // cfg.steps_per_subset + 1
        if not 1 <= t <= cfg.num_subsets:
            raise ValueError(
                f"step {step} is outside Algorithm 1's T·M = {cfg.num_subsets}·{cfg.steps_per_subset} steps; set "
                f"trainer.total_training_steps <= {cfg.num_subsets * cfg.steps_per_subset} (or raise "
                "curriculum.steps_per_subset)"
            )
        return t

    # ------------------------------------------------------------------ the step
    def _pilot(self, ctx: RolloutContext, subset: int) -> tuple[list[Group], dict[str, float]]:
        """Reset every estimate, roll out N' per prompt of the subset, initialise counts (Eq. 22) and moments."""
        cfg = self.config
        t0 = time.perf_counter()
        self.posterior.reset()
        if self.moments is not None:
            self.moments = GradNormMoments(self.num_prompts)
        members = self.members(subset)
        logger.info("cures_algorithm1 step %d: subset %d, pilot of %d prompts x %d", self.step, subset,
                    members.size, cfg.pilot_n)  # fmt: skip
        groups = ctx.generate(members, cfg.pilot_n)
        idx, n, s = group_counts(groups)
        self.posterior.update(idx, s, n)
        metrics = {
            "cures/pilot": 1.0,
            "cures/pilot_prompts": float(members.size),
            "cures/pilot_responses": float(n.sum()),
            "cures/pilot_acc": float(s.sum() / max(n.sum(), 1)),
        }
        if self.moments is not None:
            t1 = time.perf_counter()
            norms = self._measure(groups, subset)
            metrics["cures/gradnorm_s"] = time.perf_counter() - t1
            metrics["cures/gradnorm_mean"] = float(norms.mean())
            metrics["cures/gradnorm_measured"] = float(norms.size)
        metrics["cures/pilot_s"] = time.perf_counter() - t0
        self.subset = subset  # only once the pilot is complete: a failed pilot is redone, never half-used
        return groups, metrics

    def _seed_without_pilot(self, ctx: RolloutContext, subset: int) -> dict[str, float]:
        """Reset every estimate; with the value prior, score the subset's prompts and set their prior (no rollouts)."""
        t0 = time.perf_counter()
        self.posterior.reset()
        members = self.members(subset)
        metrics = {"cures/prior/prompts": 0.0}
        if isinstance(self.posterior, PriorBetaPosterior):
            metrics = seed_prior(self.posterior, ctx, members, self.config.prior, self.prior_metric_prefix)
        logger.info("cures_algorithm1 step %d: subset %d starts from the %s prior of %d prompts (no pilot)", self.step,
                    subset, self.config.prior.source, members.size)  # fmt: skip
        metrics["cures/prior/seed_s"] = time.perf_counter() - t0
        self.subset = subset
        return metrics

    def _measure(self, groups: Sequence[Group], subset: int) -> np.ndarray:
        """Per-trajectory norms of the pilot from the producer into the Eq. 21 moments; refuses anything missing."""
        if self.producer is None:
            raise RuntimeError(
                f"curriculum.sigma=gradnorm but no gradient norms were produced for the pilot of subset {subset}: no "
                f"producer is attached (expected {GRADNORM_PRODUCER}); σ is never replaced by the Bernoulli one "
                "silently: use curriculum.sigma=bernoulli for that ablation"
            )
        out = list(self.producer(groups))
        if len(out) != len(groups):
            raise RuntimeError(
                f"the gradient-norm producer returned {len(out)} groups for the {len(groups)} pilot groups of subset "
                f"{subset} ({GRADNORM_PRODUCER})"
            )
        idx, norms, correct = [], [], []
        for g, g_norms in zip(groups, out, strict=True):
            arr = np.asarray(g_norms, dtype=np.float64)
            if arr.shape != (g.n,) or not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise RuntimeError(
                    f"the gradient-norm producer gave {arr.shape} norms for prompt {g.index} with {g.n} pilot "
                    f"responses (need {g.n} finite values >= 0) in subset {subset} ({GRADNORM_PRODUCER})"
                )
            idx.append(np.full(g.n, g.index, dtype=np.int64))
            norms.append(arr)
            correct.append(np.asarray(g.rewards) > 0.5)
        flat = np.concatenate(norms) if norms else np.zeros(0)
        assert self.moments is not None
        self.moments.update(np.concatenate(idx), flat, np.concatenate(correct))
        return flat

    def sigma(self, indices: np.ndarray) -> np.ndarray:
        """σ_i of Eq. 20 for ``indices``: Eq. 21 from the pilot moments and the current p̂, or the Bernoulli σ."""
        bern = bernoulli_sigma(self.posterior.alpha[indices], self.posterior.beta[indices])
        if self.moments is None:
            return bern
        measured = ~(np.isnan(self.moments.moments[0, indices]) & np.isnan(self.moments.moments[2, indices]))
        if not measured.all():
            raise RuntimeError(
                f"{int((~measured).sum())} drawn prompts of subset {self.subset} have no pilot gradient norms "
                f"(first indices {indices[~measured][:5].tolist()}); {GRADNORM_PRODUCER} must measure every pilot "
                "response"
            )
        return self.moments.sigma(indices, self.posterior.mean(indices), bern)

    def run_step(self, ctx: RolloutContext) -> dict[str, float]:
        """Pilot and reset at a subset's first step, then m draws with replacement ∝ ρ*, Eq. 20, submit, commit."""
        cfg = self.config
        self.step = int(ctx.step)
        subset = self.subset_of(self.step)
        pilot: list[Group] = []
        metrics: dict[str, float] = {"cures/pilot": 0.0}
        if subset != self.subset and cfg.prior.source == "pilot":
            pilot, pilot_metrics = self._pilot(ctx, subset)
            metrics.update(pilot_metrics)
        elif subset != self.subset:
            metrics.update(self._seed_without_pilot(ctx, subset))
        elif cfg.prior.source != "pilot":
            metrics["cures/prior/prompts"] = 0.0
        t0 = time.perf_counter()
        members = self.members(subset)
        p_pool = self.posterior.mean(members)
        rho = sampling_probs(p_pool, cfg.tau)
        draws = members[self.rng.choice(members.size, size=cfg.batch_size, replace=True, p=rho)]
        sigma = self.sigma(draws)
        budget = cfg.batch_size * cfg.n
        counts = allocate_with_floors(sigma, budget, np.full(draws.size, cfg.n_min, dtype=np.int64), cfg.n_max)
        idx, n = merge_draws(draws, counts)
        select_s = time.perf_counter() - t0
        groups = ctx.submit(idx, n)
        trained = list(groups)
        if pilot:
            if cfg.train_on_pilot:
                trained += pilot
            else:
                ctx.release(pilot)
        ctx.commit(trained)
        self._pilot_handles = {g.handle for g in pilot} if cfg.train_on_pilot else set()
        self.allocated = {g.handle: int(k) for g, k in zip(groups, n, strict=True)}
        metrics.update(self._metrics(members, rho, draws, counts, idx, n, sigma, len(pilot)))
        metrics["cures/select_s"] = select_s
        return metrics

    def observe(self, trained: Sequence[Group], screened: Sequence[Group] = ()) -> dict[str, float]:
        """Eq. 23: the training rollouts' counts update the posterior (pilot groups were counted in the pilot)."""
        t0 = time.perf_counter()
        train = [g for g in trained if g.handle not in self._pilot_handles]
        idx, n, s = group_counts(train)
        self.posterior.update(idx, s, n)
        mismatch = sum(abs(g.n - self.allocated[g.handle]) for g in train if g.handle in self.allocated)
        return {"cures/n_mismatch": float(mismatch), "cures/update_s": time.perf_counter() - t0}

    # ------------------------------------------------------------------ metrics
    def _metrics(
        self,
        members: np.ndarray,
        rho: np.ndarray,
        draws: np.ndarray,
        counts: np.ndarray,
        idx: np.ndarray,
        n: np.ndarray,
        sigma: np.ndarray,
        pilot_groups: int,
    ) -> dict[str, float]:
        cfg = self.config
        if isinstance(self.posterior, PriorBetaPosterior):
            evidence = self.posterior.evidence()
        else:
            evidence = self.posterior.alpha + self.posterior.beta - cfg.alpha0 - cfg.beta0
        inside = np.zeros(self.num_prompts, dtype=bool)
        inside[members] = True
        p = self.posterior.mean(draws)
        pos = rho[rho > 0]
        entropy = float(-(pos * np.log(pos)).sum())
        out = {
            "cures/subset": float(self.subset),
            # the posterior's evidence (α+β−α0−β0) inside and outside the current subset: after a reset and the
            # pilot, exactly pilot_n·|D_t| and 0
            "cures/evidence_subset": float(evidence[inside].sum()),
            "cures/evidence_other": float(evidence[~inside].sum()),
            "cures/draws": float(draws.size),
            "cures/draw_unique": float(idx.size),
            "cures/draw_repeats": float(draws.size - idx.size),
            "cures/train_responses": float(n.sum()),
            "cures/phat_batch_mean": float(p.mean()),
            "cures/sigma_mean": float(sigma.mean()),
            "cures/sigma_bernoulli_mean": float(
                bernoulli_sigma(self.posterior.alpha[draws], self.posterior.beta[draws]).mean()
            ),
            "cures/alloc_min": float(counts.min()),
            "cures/alloc_mean": float(counts.mean()),
            "cures/alloc_max": float(counts.max()),
            "cures/alloc_frac_at_min": float(np.mean(counts == cfg.n_min)),
            "cures/alloc_frac_at_max": float(np.mean(counts == cfg.n_max)),
            "cures/group_n_max": float(n.max()),
            "cures/rho_entropy": entropy,
            "cures/rho_entropy_norm": entropy / np.log(members.size) if members.size > 1 else 1.0,
            "cures/rho_ess": float(1.0 / np.square(rho).sum()),
        }
        if counts.std() > 0 and sigma.std() > 0:
            out["cures/alloc_corr_sigma"] = float(np.corrcoef(counts, sigma)[0, 1])
        return out

    # ------------------------------------------------------------------ state
    def fingerprint(self) -> str:
        """Hash of the config fields that change what a checkpoint means (τ may change on resume)."""
        return self.config_fingerprint(
            ("alpha0", "beta0", "sigma", "pilot_n", "subsets", "num_subsets", "steps_per_subset", "seed",
             "train_on_pilot", "gradnorm_params")
        )  # fmt: skip

    def predicted_success(self, indices: np.ndarray) -> np.ndarray:
        """The posterior mean α/(α+β) of ``indices`` (the p̂ of ρ*, Eq. 14; a prompt drawn twice appears twice),
        float64, shape ``(k,)``."""
        return self.posterior.mean(np.asarray(indices, dtype=np.int64))

    def state_dict(self) -> dict[str, Any]:
        """Posterior, pilot moments, RNG, step, current subset, subset-label hash and pool size."""
        return {
            "strategy": "cures_algorithm1",
            "num_prompts": self.num_prompts,
            "fingerprint": self.fingerprint(),
            "rng": self.rng.bit_generator.state,
            "posterior": self.posterior.state_dict(),
            "moments": None if self.moments is None else self.moments.state_dict(),
            "step": self.step,
            "subset": self.subset,
            "labels_hash": self._labels_hash,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (labels attached later are checked against the saved hash)."""
        if state.get("strategy") != "cures_algorithm1":
            raise ValueError(f"checkpointed curriculum state is not cures_algorithm1's (keys {sorted(state)[:8]})")
        if int(state["num_prompts"]) != self.num_prompts or state["fingerprint"] != self.fingerprint():
            raise ValueError(
                "checkpointed cures_algorithm1 state was written for another pool or other settings (pool "
                f"{state['num_prompts']} vs {self.num_prompts}); resume with the same data and curriculum.params"
            )
        self.rng.bit_generator.state = state["rng"]
        self.posterior.load_state_dict(state["posterior"])
        if self.moments is not None:
            self.moments.load_state_dict(state["moments"])
        self.step = int(state["step"])
        self.subset = int(state["subset"])
        if self.labels is not None and state["labels_hash"] != self._labels_hash:
            raise ValueError("the data's subset labels differ from the checkpointed run's; resume with the same data")
        self._labels_hash = state["labels_hash"]
