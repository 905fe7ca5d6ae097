"""MoPPS (Model Predictive Prompt Selection, arXiv 2507.04632; docs/methods/mopps.md).

Every prompt x carries a Beta(α_x, β_x) posterior of its success rate (MoPPS §3, the Beta–Bernoulli bandit). After
a step in which x got n rollouts with s successes, the posterior is updated with decay λ toward the prior (the
paper's recursive Bayesian update):

    α_x ← λ·α_x + (1 − λ)·α0 + s,        β_x ← λ·β_x + (1 − λ)·β0 + (n − s)

(only the prompts trained in the step are updated; λ = 1 is the plain conjugate update). Each step:

1. a candidate pool of ``ratio × m`` prompts is drawn from a seeded pass permutation (the whole pool when it is
   smaller);
2. each candidate gets a Thompson draw p̃_x ~ Beta(α_x, β_x) (the paper's Thompson-sampling estimate);
3. ``selection: topk`` keeps the m candidates with the smallest (p̃_x − target)² (the paper's top-B selection;
   ties: candidate order);
   ``selection: threshold`` keeps m candidates drawn uniformly among those with p̃_x ∈ [lo, hi]. When fewer than m
   qualify, all qualifying candidates are kept and the batch is filled with the remaining candidates closest to
   ``target`` (ours: the paper leaves the shortfall open), reported as ``mopps/threshold_shortfall``;
4. the m prompts get n responses each and are all trained.

With ``prior.source: value_model`` (ours, docs/value_prior.md) a candidate without a prior is scored by PCL's value
model when it is first drawn into a candidate pool, before the Thompson draws, and gets the prior
Beta(c·V, c·(1 − V)) (V clipped to [ε, 1 − ε]); observed counts are added on top, and the decay shrinks toward it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from verl_ext.curriculum.base import Curriculum, CurriculumConfig, Group, RolloutContext, register_curriculum
from verl_ext.curriculum.cures import BetaPosterior
from verl_ext.curriculum.parts.estimators import thompson_draw
from verl_ext.curriculum.parts.scores import distance_score
from verl_ext.curriculum.parts.select import select_band, select_topk_score
from verl_ext.curriculum.sampler import PassSampling
from verl_ext.curriculum.uniform import group_counts
from verl_ext.curriculum.value_prior import PriorBetaPosterior, PriorConfig, ValuePriorCapable, seed_prior

__all__ = ["MoPPSCurriculum", "MoPPSConfig", "select_threshold", "select_topk"]

SELECTIONS = ("topk", "threshold")


def select_topk(p_tilde: np.ndarray, m: int, target: float) -> np.ndarray:
    """Positions of the m smallest |p̃ − target| (MoPPS top-B selection; the same order as (p̃ − target)²), ties by
    position, best first; shape ``(m,)``. The top-k rule of the composable parts on the ``distance`` score."""
    return select_topk_score(distance_score(p_tilde, target), m, "rank")


def select_threshold(
    p_tilde: np.ndarray, m: int, lo: float, hi: float, target: float, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """m positions drawn uniformly among p̃ ∈ [lo, hi]; if fewer qualify, all of them plus the closest to target
    (:func:`verl_ext.curriculum.parts.select.select_band` on the ``distance`` score).

    Returns:
        ``(positions (m,), shortfall)`` where shortfall = max(0, m − #qualifying) is how many were filled by distance.
    """
    return select_band(p_tilde, m, lo, hi, distance_score(p_tilde, target), rng)


@dataclasses.dataclass
class MoPPSConfig(CurriculumConfig):
    """MoPPS options (defaults: the paper's).

    Attributes:
        ratio: candidate pool size as a multiple of m (a pool of ``ratio × m`` prompts; default 16).
        target: the success rate prompts are selected around (paper: 0.5).
        selection: ``topk`` (closest to target) or ``threshold`` (p̃ ∈ [lo, hi]).
        lo, hi: the threshold band (paper: 0.3, 0.7).
        decay: λ of the posterior update (1 = no forgetting).
        alpha0, beta0: the Beta prior (paper: 1, 1).
        prior: ``{source: none|value_model, strength: c, eps: ε}`` (:class:`PriorConfig`; ``none``: the paper's
            Beta(alpha0, beta0) for every prompt; ``value_model``: docs/value_prior.md).
    """

    ratio: int = 16
    target: float = 0.5
    selection: str = "topk"
    lo: float = 0.3
    hi: float = 0.7
    decay: float = 1.0
    alpha0: float = 1.0
    beta0: float = 1.0
    prior: PriorConfig = dataclasses.field(default_factory=PriorConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.prior = MoPPSCurriculum.prior_of({"prior": self.prior})
        if self.selection not in SELECTIONS:
            raise ValueError(f"curriculum.params.selection={self.selection!r} is invalid; use one of {SELECTIONS}")
        if isinstance(self.ratio, bool) or int(self.ratio) != self.ratio or self.ratio < 1:
            raise ValueError(f"curriculum.params.ratio must be an integer >= 1 (paper: 16), got {self.ratio!r}")
        if not 0.0 <= self.target <= 1.0:
            raise ValueError(f"curriculum.params.target must lie in [0, 1] (paper: 0.5), got {self.target}")
        if not 0.0 <= self.lo <= self.hi <= 1.0:
            raise ValueError(f"need 0 <= curriculum.params.lo <= hi <= 1 (paper: 0.3, 0.7), got {self.lo}, {self.hi}")
        if not 0.0 <= self.decay <= 1.0:
            raise ValueError(f"curriculum.params.decay (λ) must lie in [0, 1] (1 = no forgetting), got {self.decay}")
        if not (self.alpha0 > 0 and self.beta0 > 0):
            raise ValueError(f"curriculum.params.alpha0 and beta0 must be > 0, got {self.alpha0}, {self.beta0}")


@register_curriculum("mopps")
class MoPPSCurriculum(ValuePriorCapable, PassSampling, Curriculum):
    """MoPPS selector: Thompson draws over a candidate pool, m prompts with n responses each, all trained."""

    config_class = MoPPSConfig
    prior_metric_prefix = "mopps"

    def __init__(self, config: MoPPSConfig, num_prompts: int) -> None:
        super().__init__(config, num_prompts)
        self.config: MoPPSConfig = config
        self.pool_size = min(config.ratio * config.batch_size, num_prompts)
        self.init_pass(num_prompts, config.seed, config.batch_size, "data.train_batch_size")
        posterior = PriorBetaPosterior if config.prior.source == "value_model" else BetaPosterior
        self.posterior = posterior(num_prompts, config.alpha0, config.beta0, config.decay)

    def run_step(self, ctx: RolloutContext) -> dict[str, float]:
        """Draw the candidate pool, Thompson-score it, keep m, submit n responses each and commit them."""
        cfg = self.config
        t0 = time.perf_counter()
        cand = self.sampler.next(self.pool_size)
        prior = {}
        if isinstance(self.posterior, PriorBetaPosterior):
            prior = seed_prior(self.posterior, ctx, cand, cfg.prior, self.prior_metric_prefix)
        p_tilde = thompson_draw(self.posterior, cand, self.rng)  # the thompson estimator of the composable parts
        shortfall = 0
        if cfg.selection == "topk":
            keep = select_topk(p_tilde, cfg.batch_size, cfg.target)
        else:
            keep, shortfall = select_threshold(p_tilde, cfg.batch_size, cfg.lo, cfg.hi, cfg.target, self.rng)
        idx = cand[keep]
        select_s = time.perf_counter() - t0
        groups = ctx.submit(idx, cfg.n)
        ctx.commit(groups)
        chosen = p_tilde[keep]
        return {
            "mopps/candidates": float(cand.size),
            "mopps/ptilde_selected_mean": float(chosen.mean()),
            "mopps/ptilde_candidates_mean": float(p_tilde.mean()),
            "mopps/abs_gap_selected_mean": float(np.abs(chosen - cfg.target).mean()),
            "mopps/phat_selected_mean": float(self.posterior.mean(idx).mean()),
            "mopps/frac_seen_selected": float(np.mean(self.posterior.visits[idx] > 0)),
            "mopps/threshold_shortfall": float(shortfall),
            "mopps/select_s": select_s,
            **prior,
        }

    def observe(self, trained: Sequence[Group], screened: Sequence[Group] = ()) -> dict[str, float]:
        """Posterior update (decayed Beta update) from the trained groups; s = #reward > 0.5."""
        idx, n, s = group_counts(trained)
        self.posterior.update(idx, s, n)
        return {"mopps/frac_seen": float(np.mean(self.posterior.visits > 0))}

    def predicted_success(self, indices: np.ndarray) -> np.ndarray:
        """The posterior mean α/(α+β) of ``indices`` (the Thompson draws' expectation), float64, shape ``(k,)``."""
        return self.posterior.mean(np.asarray(indices, dtype=np.int64))

    def state_dict(self) -> dict[str, Any]:
        """RNG and pass (shared generator), posterior."""
        return {**self.pass_state(), "posterior": self.posterior.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (the pool size must match)."""
        self.load_pass_state(state)
        self.posterior.load_state_dict(state["posterior"])
