"""Estimators of the composable curricula (docs/methods/composed.md): a prompt's success rate p̂ from evidence.

- ``beta``: a Beta(α, β) posterior per prompt with forgetting λ (:class:`verl_ext.curriculum.cures.BetaPosterior`):
  α ← α0 + λ(α − α0) + s, β ← β0 + λ(β − β0) + (n − s), p̂ = α/(α + β). This is MoPPS's decayed update
  (arXiv 2507.04632, α ← λα + (1−λ)α0 + s) and, at λ = 1, CurES's counts (arXiv 2510.01037 Eq. 22–24). With
  ``prior: {source: value_model}`` a prompt's prior is Beta(c·V, c·(1 − V)) from PCL's value model, set when the
  prompt is first estimated (docs/value_prior.md, :func:`verl_ext.curriculum.value_prior.seed_prior`);
- ``thompson``: the same posterior, p̃ ~ Beta(α, β) drawn afresh every step (MoPPS's Thompson sampling);
- ``value``: PCL's prompt-value model V(x) (arXiv 2510.01135 Alg. 1), through the context's ``score`` capability;
- ``probe``: ``probe_n`` rollouts of each candidate from the current policy, p̂ = their mean reward (PCL §3.2's
  threshold study); the probe groups are released, never trained.

Every estimator returns an :class:`Estimate` for the candidates it is asked about and answers
``predicted_success(indices)`` (its p̂ for those prompts; NaN where it has none), used for calibration metrics.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from verl_ext.curriculum.base import Group, RolloutContext
from verl_ext.curriculum.cures import BetaPosterior
from verl_ext.curriculum.value_prior import PriorBetaPosterior, PriorConfig, seed_prior

__all__ = [
    "ESTIMATORS",
    "BetaEstimator",
    "Estimate",
    "Estimator",
    "ProbeEstimator",
    "ThompsonEstimator",
    "ValueEstimator",
    "last_outcome",
    "probe_success",
    "thompson_draw",
]


@dataclasses.dataclass
class Estimate:
    """What an estimator knows about k prompts (arrays of shape ``(k,)``, aligned with the indices asked about).

    Attributes:
        p: the estimate used for scoring and allocation (posterior mean, Thompson draw, raw V, probe mean).
        alpha, beta: the Beta posterior's parameters (``None`` for estimators without one).
        visits: updates each prompt's evidence received (``None``: the estimator keeps no history).
        outcome: the last visit's outcome, -1 unseen, 0 all wrong, 1 all right, 2 mixed (``None``: none kept).
    """

    p: np.ndarray
    alpha: np.ndarray | None = None
    beta: np.ndarray | None = None
    visits: np.ndarray | None = None
    outcome: np.ndarray | None = None

    def take(self, positions: np.ndarray) -> Estimate:
        """The estimate of the prompts at ``positions`` (into this estimate's arrays)."""
        pick = lambda a: None if a is None else a[positions]  # noqa: E731
        return Estimate(self.p[positions], pick(self.alpha), pick(self.beta), pick(self.visits), pick(self.outcome))


def last_outcome(successes: np.ndarray, trials: np.ndarray) -> np.ndarray:
    """Outcome of a visit: 0 all wrong (s = 0), 1 all right (s = n), 2 mixed; int8, shape of ``successes``."""
    s, n = np.asarray(successes), np.asarray(trials)
    return np.where(s == 0, 0, np.where(s == n, 1, 2)).astype(np.int8)


def thompson_draw(posterior: BetaPosterior, indices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """p̃_x ~ Beta(α_x, β_x) for each index, one draw each from ``rng`` (MoPPS's Thompson sampling), shape ``(k,)``."""
    return rng.beta(posterior.alpha[indices], posterior.beta[indices])


def probe_success(ctx: RolloutContext, indices: np.ndarray, probe_n: int) -> tuple[np.ndarray, list[Group]]:
    """Roll out ``probe_n`` responses per index (one generation round); p̂ = mean reward (0 for an empty group).

    Returns ``(p̂ (k,), groups)``; the caller releases the groups (probe responses are never trained).
    """
    groups = ctx.generate(indices, probe_n)
    sizes = np.fromiter((g.n for g in groups), dtype=np.int64, count=len(groups))
    p_hat = np.zeros(len(groups), dtype=np.float64)
    scored = np.flatnonzero(sizes > 0)
    if scored.size:  # one concatenation instead of a mean per group (10^3-10^4 small arrays)
        flat = np.concatenate([np.asarray(groups[j].rewards, dtype=np.float64) for j in scored])
        starts = np.concatenate([[0], np.cumsum(sizes[scored])[:-1]])
        p_hat[scored] = np.add.reduceat(flat, starts) / sizes[scored]
    return p_hat, groups


class Estimator(abc.ABC):
    """One estimator; ``keys`` are the ``curriculum.params`` it reads, ``deterministic`` says that p̂ changes only
    through :meth:`observe` (so softmax weights over the pool can be refreshed incrementally)."""

    name: ClassVar[str]
    keys: ClassVar[tuple[str, ...]] = ()
    deterministic: ClassVar[bool] = False
    generates: ClassVar[bool] = False  # rolls out responses to estimate (one generation round a step)

    def __init__(self, num_prompts: int) -> None:
        self.num_prompts = int(num_prompts)

    @abc.abstractmethod
    def estimate(self, indices: np.ndarray, ctx: RolloutContext, rng: np.random.Generator) -> Estimate:
        """p̂ (and what else the estimator keeps) for ``indices``, shape ``(k,)``."""

    def observe(self, indices: np.ndarray, trials: np.ndarray, successes: np.ndarray) -> np.ndarray:
        """Evidence of the trained groups (per group: index, n, s). Returns the indices whose p̂ changed."""
        return np.zeros(0, dtype=np.int64)

    def mean(self, indices: np.ndarray | None = None) -> np.ndarray:
        """The deterministic p̂ (only for ``deterministic`` estimators), shape ``(P,)`` or ``indices.shape``."""
        raise NotImplementedError(f"estimator {self.name!r} has no deterministic p̂")

    @abc.abstractmethod
    def predicted_success(self, indices: np.ndarray) -> np.ndarray:
        """The estimator's p̂ ∈ [0, 1] for ``indices`` (NaN where it has none), float64, shape ``(k,)``."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        return None


class BetaEstimator(Estimator):
    """``beta``: Beta posterior with forgetting λ (``alpha0``, ``beta0``, ``forget``); p̂ = posterior mean."""

    name = "beta"
    keys = ("alpha0", "beta0", "forget", "prior")
    deterministic = True

    def __init__(
        self,
        num_prompts: int,
        alpha0: float,
        beta0: float,
        forget: float,
        prior: PriorConfig | None = None,
        metric_prefix: str = "composed",
    ) -> None:
        super().__init__(num_prompts)
        self.prior = prior if prior is not None else PriorConfig()
        self.metric_prefix = metric_prefix
        cls = PriorBetaPosterior if self.prior.source == "value_model" else BetaPosterior
        self.posterior = cls(num_prompts, alpha0, beta0, forget)
        self.outcome = np.full(self.num_prompts, -1, dtype=np.int8)
        self.prior_metrics: dict[str, float] = {}

    @property
    def value_prior(self) -> bool:
        """True when prompts get their prior from the value model when first estimated."""
        return isinstance(self.posterior, PriorBetaPosterior)

    def _seed(self, indices: np.ndarray, ctx: RolloutContext) -> None:
        """Give the prompts of ``indices`` without a prior their value-model prior (one ``ctx.score`` call)."""
        if isinstance(self.posterior, PriorBetaPosterior):
            self.prior_metrics = seed_prior(self.posterior, ctx, indices, self.prior, self.metric_prefix)

    def _estimate(self, indices: np.ndarray, p: np.ndarray) -> Estimate:
        post = self.posterior
        return Estimate(p, post.alpha[indices], post.beta[indices], post.visits[indices], self.outcome[indices])

    def estimate(self, indices: np.ndarray, ctx: RolloutContext, rng: np.random.Generator) -> Estimate:
        self._seed(indices, ctx)
        return self._estimate(indices, self.posterior.mean(indices))

    def observe(self, indices: np.ndarray, trials: np.ndarray, successes: np.ndarray) -> np.ndarray:
        changed = self.posterior.update(indices, successes, trials)
        self.outcome[indices] = last_outcome(successes, trials)
        return changed

    def mean(self, indices: np.ndarray | None = None) -> np.ndarray:
        return self.posterior.mean(indices)

    def predicted_success(self, indices: np.ndarray) -> np.ndarray:
        return self.posterior.mean(np.asarray(indices, dtype=np.int64))

    def state_dict(self) -> dict[str, Any]:
        return {"posterior": self.posterior.state_dict(), "outcome": self.outcome.copy()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.posterior.load_state_dict(state["posterior"])
        self.outcome = np.asarray(state["outcome"], dtype=np.int8).copy()


class ThompsonEstimator(BetaEstimator):
    """``thompson``: the ``beta`` posterior, p̃ ~ Beta(α, β) drawn every step; its predicted success is the mean."""

    name = "thompson"
    deterministic = False

    def estimate(self, indices: np.ndarray, ctx: RolloutContext, rng: np.random.Generator) -> Estimate:
        self._seed(indices, ctx)
        return self._estimate(indices, thompson_draw(self.posterior, indices, rng))


class _LastValue(Estimator):
    """Keeps the last p̂ of every prompt it estimated (for ``predicted_success``)."""

    def __init__(self, num_prompts: int) -> None:
        super().__init__(num_prompts)
        self.last = np.full(self.num_prompts, np.nan)

    def predicted_success(self, indices: np.ndarray) -> np.ndarray:
        return np.clip(self.last[np.asarray(indices, dtype=np.int64)], 0.0, 1.0)

    def state_dict(self) -> dict[str, Any]:
        seen = np.flatnonzero(~np.isnan(self.last))
        return {"seen": seen, "last": self.last[seen].copy()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.last.fill(np.nan)
        self.last[np.asarray(state["seen"], dtype=np.int64)] = np.asarray(state["last"], dtype=np.float64)


class ValueEstimator(_LastValue):
    """``value``: PCL's V(x) through ``ctx.score`` (raw: V may leave [0, 1]); predicted success = clip(V, 0, 1)."""

    name = "value"

    def estimate(self, indices: np.ndarray, ctx: RolloutContext, rng: np.random.Generator) -> Estimate:
        try:
            v = np.asarray(ctx.score(indices), dtype=np.float64)
        except NotImplementedError as err:
            raise RuntimeError(
                "curriculum.params.estimator=value needs PCL's prompt-value model behind the rollout context's "
                "score(): add +value_model=pcl to the run (configs/value_model/pcl.yaml), or choose another estimator "
                f"(beta, thompson, probe). Context said: {err}"
            ) from err
        if v.shape != indices.shape or not np.all(np.isfinite(v)):
            raise ValueError(f"ctx.score returned {v.shape} values (finite: {np.isfinite(v).all()}) for {indices.size}")
        self.last[indices] = v
        return Estimate(v)


class ProbeEstimator(_LastValue):
    """``probe``: ``probe_n`` fresh rollouts per candidate, p̂ = mean reward; the probes are released.

    The probe is one visit of evidence: ``visits`` = 1 and ``outcome`` its all-wrong / all-right / mixed result.
    """

    name = "probe"
    keys = ("probe_n",)
    generates = True

    def __init__(self, num_prompts: int, probe_n: int) -> None:
        super().__init__(num_prompts)
        self.probe_n = int(probe_n)

    def estimate(self, indices: np.ndarray, ctx: RolloutContext, rng: np.random.Generator) -> Estimate:
        p, groups = probe_success(ctx, indices, self.probe_n)
        ctx.release(groups)  # probe responses never reach the policy batch
        self.last[indices] = p
        # binary rewards: all wrong <=> p̂ = 0, all right <=> p̂ = 1
        outcome = np.where(p <= 0.0, 0, np.where(p >= 1.0, 1, 2)).astype(np.int8)
        return Estimate(p, visits=np.ones(indices.size, dtype=np.int64), outcome=outcome)


ESTIMATORS: dict[str, type[Estimator]] = {
    c.name: c for c in (BetaEstimator, ThompsonEstimator, ValueEstimator, ProbeEstimator)
}
