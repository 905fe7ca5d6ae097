"""PCL's value model as a prior of the Beta estimators (docs/value_prior.md).

CurES (``cures_algorithm1``, ``cures_online``) and MoPPS keep a Beta(α_x, β_x) posterior of each prompt's success
rate. Their prior is normally the flat Beta(α0, β0) (CurES Eq. 22 then adds the N' pilot rollouts of
``cures_algorithm1``). With ``curriculum.params.prior.source=value_model`` a prompt's prior pseudo-counts come from
PCL's prompt-value model V(x) (PCL arXiv 2510.01135 §3, Eq. 2; trained online exactly as in PCL) instead:

    α0(x) = c · clip(V(x), ε, 1 − ε),        β0(x) = c · (1 − clip(V(x), ε, 1 − ε))

(:func:`prior_pseudo_counts`). The prior mean is clip(V, ε, 1 − ε) and its weight is c pseudo-observations; counts
observed later are added on top (CurES Eq. 23, MoPPS' decayed update shrinks toward this per-prompt prior). This
combination is the project's, not either paper's.

Defaults: c = ``strength`` = 2 (with V = 0.5, the untrained head's constant output, the prior is exactly the flat
Beta(1, 1) of both papers, and it weighs half the N' = 4 pilot it replaces, so a prompt's own rollouts dominate after
its first group); ε = ``eps`` = 0.01 (V is the raw, unbounded head output; the clip keeps α0, β0 > 0 and the prior
mean inside [0.01, 0.99]).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from verl_ext.curriculum.base import RolloutContext
from verl_ext.curriculum.cures import BetaPosterior

__all__ = [
    "DEFAULT_EPS",
    "DEFAULT_STRENGTH",
    "VALUE_PRIOR_EXTENSION",
    "PriorBetaPosterior",
    "PriorConfig",
    "ValuePriorCapable",
    "check_value_model_use",
    "prior_pseudo_counts",
    "seed_prior",
]

DEFAULT_STRENGTH = 2.0
DEFAULT_EPS = 0.01
# the trainer extension that builds PCL's value worker group behind ``ctx.score`` for a prior
VALUE_PRIOR_EXTENSION = "verl_ext.workers.value_prior_extension:ValuePriorExtension"


def prior_pseudo_counts(values: np.ndarray, strength: float, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Beta prior pseudo-counts from value predictions: ``α0 = c·clip(V, ε, 1−ε)``, ``β0 = c·(1 − clip(V, ε, 1−ε))``.

    Example: V = (0.25, 1.3, −0.2), c = 2, ε = 0.01 → α0 = (0.5, 1.98, 0.02), β0 = (1.5, 0.02, 1.98).

    Args:
        values: raw value-model predictions V(x), shape ``(k,)`` (any real numbers; NaN/inf refused).
        strength: c > 0, the prior's weight in pseudo-observations.
        eps: ε in (0, 0.5), the clip margin.

    Returns:
        ``(alpha0, beta0)``, float64, shape ``(k,)``, both > 0, summing to c per prompt.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"value predictions must be 1-D, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        bad = np.flatnonzero(~np.isfinite(v))[:5].tolist()
        raise ValueError(f"the value model returned non-finite predictions at positions {bad}; cannot form a prior")
    if not strength > 0:
        raise ValueError(f"curriculum.params.prior.strength must be > 0, got {strength}")
    if not 0.0 < eps < 0.5:
        raise ValueError(f"curriculum.params.prior.eps must lie in (0, 0.5), got {eps}")
    p = np.clip(v, eps, 1.0 - eps)
    return strength * p, strength * (1.0 - p)


@dataclasses.dataclass
class PriorConfig:
    """Typed ``curriculum.params.prior`` node.

    Attributes:
        source: where a prompt's Beta prior comes from: ``pilot`` (``cures_algorithm1`` only: the N' pilot
            rollouts), ``none`` (the flat Beta(α0, β0)) or ``value_model`` (:func:`prior_pseudo_counts` of PCL's value
            model; needs ``curriculum.value_model``).
        strength: c, the prior's weight in pseudo-observations (default 2, module docstring).
        eps: ε, the clip margin of V (default 0.01).
    """

    source: str = "none"
    strength: float = DEFAULT_STRENGTH
    eps: float = DEFAULT_EPS

    @classmethod
    def parse(cls, node: Any, valid: tuple[str, ...], default: str) -> PriorConfig:
        """``node`` (a mapping, a :class:`PriorConfig` or ``None``) checked against the strategy's ``valid`` sources."""
        if node is None:
            node = {"source": default}
        if isinstance(node, PriorConfig):
            node = dataclasses.asdict(node)
        if not isinstance(node, Mapping):
            raise ValueError(f"curriculum.params.prior must be a mapping {{source, strength, eps}}, got {node!r}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(node) - fields)
        if unknown:
            raise ValueError(f"curriculum.params.prior has no key(s) {unknown}; valid keys: {sorted(fields)}")
        out = cls(**{"source": default, **dict(node)})
        if out.source not in valid:
            raise ValueError(f"curriculum.params.prior.source={out.source!r} is invalid here; valid: {valid}")
        if isinstance(out.strength, bool) or not isinstance(out.strength, int | float) or not out.strength > 0:
            raise ValueError(f"curriculum.params.prior.strength must be a number > 0, got {out.strength!r}")
        if isinstance(out.eps, bool) or not isinstance(out.eps, int | float) or not 0.0 < out.eps < 0.5:
            raise ValueError(f"curriculum.params.prior.eps must lie in (0, 0.5), got {out.eps!r}")
        out.strength, out.eps = float(out.strength), float(out.eps)
        return out


class PriorBetaPosterior(BetaPosterior):
    """A :class:`BetaPosterior` whose prior may differ per prompt (``prior_alpha``, ``prior_beta``, shape ``(P,)``).

    ``alpha``/``beta`` stay the full posterior parameters (prior + evidence), so every reader of a BetaPosterior works
    unchanged. The update with forgetting λ shrinks evidence toward the prompt's own prior (CurES Eq. 24 / MoPPS):
    ``α ← α0(x) + λ(α − α0(x)) + s``; it is the parent's update applied in evidence coordinates.
    """

    def __init__(self, num_prompts: int, alpha0: float = 1.0, beta0: float = 1.0, forget: float = 1.0) -> None:
        super().__init__(num_prompts, alpha0, beta0, forget)
        self.prior_alpha = np.full(self.num_prompts, self.alpha0)
        self.prior_beta = np.full(self.num_prompts, self.beta0)
        self.has_prior = np.zeros(self.num_prompts, dtype=bool)

    def set_prior(self, indices: np.ndarray, alpha0: np.ndarray, beta0: np.ndarray) -> None:
        """Give prompts ``indices`` (distinct) the prior Beta(alpha0, beta0); their observed evidence is kept on top."""
        idx = np.asarray(indices, dtype=np.int64)
        a0 = np.asarray(alpha0, dtype=np.float64)
        b0 = np.asarray(beta0, dtype=np.float64)
        if idx.ndim != 1 or a0.shape != idx.shape or b0.shape != idx.shape:
            raise ValueError(f"indices, alpha0, beta0 must be 1-D of equal length: {idx.shape}, {a0.shape}, {b0.shape}")
        if idx.size == 0:
            return
        if idx.min() < 0 or idx.max() >= self.num_prompts or np.unique(idx).size != idx.size:
            raise ValueError(f"prior indices must be distinct and lie in [0, {self.num_prompts})")
        if not (np.all(a0 > 0) and np.all(b0 > 0)):
            raise ValueError("prior pseudo-counts must be > 0")
        self.alpha[idx] = a0 + (self.alpha[idx] - self.prior_alpha[idx])
        self.beta[idx] = b0 + (self.beta[idx] - self.prior_beta[idx])
        self.prior_alpha[idx] = a0
        self.prior_beta[idx] = b0
        self.has_prior[idx] = True

    def evidence(self, indices: np.ndarray | None = None) -> np.ndarray:
        """α + β − α0(x) − β0(x): the (decayed) number of observed responses, shape ``(P,)`` or ``indices.shape``."""
        sel = slice(None) if indices is None else indices
        return self.alpha[sel] + self.beta[sel] - self.prior_alpha[sel] - self.prior_beta[sel]

    def update(self, indices: np.ndarray, successes: np.ndarray, trials: np.ndarray) -> np.ndarray:
        """The parent's update in evidence coordinates (shift to the scalar prior, update, shift back)."""
        idx = np.unique(np.asarray(indices, dtype=np.int64))
        idx = idx[(idx >= 0) & (idx < self.num_prompts)]
        da, db = self.prior_alpha[idx] - self.alpha0, self.prior_beta[idx] - self.beta0
        self.alpha[idx] -= da
        self.beta[idx] -= db
        try:
            return super().update(indices, successes, trials)
        finally:
            self.alpha[idx] += da
            self.beta[idx] += db

    def reset(self) -> None:
        """Back to the scalar prior everywhere (every per-prompt prior dropped)."""
        super().reset()
        self.prior_alpha.fill(self.alpha0)
        self.prior_beta.fill(self.beta0)
        self.has_prior.fill(False)

    def state_dict(self) -> dict[str, Any]:
        """The parent's state plus the per-prompt priors."""
        state = super().state_dict()
        state.update(prior_alpha=self.prior_alpha.copy(), prior_beta=self.prior_beta.copy())
        state["has_prior"] = self.has_prior.copy()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; a state without per-prompt priors is refused."""
        if "prior_alpha" not in state:
            raise ValueError(
                "the checkpointed posterior has no value-model prior (written with another curriculum.params.prior."
                "source); resume with the original prior settings"
            )
        super().load_state_dict(state)
        self.prior_alpha = np.asarray(state["prior_alpha"], dtype=np.float64).copy()
        self.prior_beta = np.asarray(state["prior_beta"], dtype=np.float64).copy()
        self.has_prior = np.asarray(state["has_prior"], dtype=bool).copy()


def seed_prior(
    posterior: PriorBetaPosterior, ctx: RolloutContext, indices: np.ndarray, prior: PriorConfig, prefix: str
) -> dict[str, float]:
    """Score the prompts of ``indices`` that have no prior yet with ``ctx.score`` (one call) and set their prior.

    Returns ``<prefix>/prior/prompts`` (prompts given a prior now), and when any: ``<prefix>/prior/v_mean`` (mean raw
    V used), ``<prefix>/prior/v_clipped`` (share clipped to [ε, 1 − ε]), ``<prefix>/prior/mean`` (mean prior mean),
    ``<prefix>/prior/score_s`` (seconds in ``ctx.score``).
    """
    idx = np.unique(np.asarray(indices, dtype=np.int64))
    fresh = idx[~posterior.has_prior[idx]]
    out = {f"{prefix}/prior/prompts": float(fresh.size)}
    if fresh.size == 0:
        return out
    t0 = time.perf_counter()
    values = np.asarray(ctx.score(fresh), dtype=np.float64)
    out[f"{prefix}/prior/score_s"] = time.perf_counter() - t0
    if values.shape != fresh.shape:
        raise ValueError(f"ctx.score returned shape {values.shape} for {fresh.size} prompts")
    a0, b0 = prior_pseudo_counts(values, prior.strength, prior.eps)
    posterior.set_prior(fresh, a0, b0)
    out[f"{prefix}/prior/v_mean"] = float(values.mean())
    out[f"{prefix}/prior/v_clipped"] = float(np.mean((values < prior.eps) | (values > 1.0 - prior.eps)))
    out[f"{prefix}/prior/mean"] = float((a0 / (a0 + b0)).mean())
    return out


class ValuePriorCapable:
    """Capability of a strategy whose Beta estimator accepts the value-model prior (``curriculum.params.prior``).

    ``config_extensions`` is what the trainer reads (:func:`verl_ext.trainer.extension.build_extension`): the extra
    extension a given ``params`` needs, here PCL's value worker group when ``prior.source=value_model``.
    """

    prior_sources: ClassVar[tuple[str, ...]] = ("none", "value_model")
    prior_default: ClassVar[str] = "none"
    prior_metric_prefix: ClassVar[str] = ""

    @classmethod
    def prior_of(cls, params: Mapping[str, Any]) -> PriorConfig:
        """The typed prior node of ``params`` (``curriculum.params``)."""
        return PriorConfig.parse(params.get("prior"), cls.prior_sources, cls.prior_default)

    @classmethod
    def needs_value_model(cls, params: Mapping[str, Any]) -> bool:
        """True when ``params`` ask for the value-model prior."""
        return cls.prior_of(params).source == "value_model"

    def config_fingerprint(self, keys: tuple[str, ...]) -> str:
        """Hash of ``self.config``'s ``keys`` (the settings that change what a checkpoint means) and of the prior
        node when it is not the class default: checkpoints written before the prior existed still load."""
        config = self.config  # type: ignore[attr-defined]
        fields = {k: getattr(config, k) for k in keys}
        prior = getattr(config, "prior", None)
        if prior is not None and prior.source != self.prior_default:
            fields["prior"] = dataclasses.asdict(prior)
        blob = json.dumps(fields, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @classmethod
    def value_model_reason(cls, params: Mapping[str, Any]) -> tuple[str, str]:
        """For error messages: the setting of ``params`` that reads the value model, and how else to run without it."""
        others = tuple(s for s in cls.prior_sources if s != "value_model")
        return "curriculum.params.prior.source=value_model", f"set prior.source to one of {others}"

    @classmethod
    def config_extensions(cls, params: Mapping[str, Any]) -> tuple[str, ...]:
        """Extensions ``params`` add to the class's own ``extension``: the value worker group for a value prior."""
        return (VALUE_PRIOR_EXTENSION,) if cls.needs_value_model(params) else ()


def check_value_model_use(strategy: type, params: Mapping[str, Any], has_value_model: bool) -> None:
    """Before Ray starts: a value prior needs ``curriculum.value_model``; a value model no strategy reads is refused.

    Strategies without the :class:`ValuePriorCapable` capability are not checked here (PCL needs its model anyway).
    """
    if not (isinstance(strategy, type) and issubclass(strategy, ValuePriorCapable)):
        return
    source = strategy.prior_of(params).source
    if source == "value_model" and not has_value_model:
        setting, alternative = strategy.value_model_reason(params)
        raise ValueError(
            f"{setting} needs PCL's value model: add +value_model=pcl "
            f"(configs/value_model/pcl.yaml composes curriculum.value_model), or {alternative}"
        )
    if source != "value_model" and has_value_model:
        raise ValueError(
            f"curriculum.value_model is enabled but curriculum.params.prior.source={source!r}: nothing would use the "
            "value model; set prior.source=value_model or curriculum.value_model.enable=false"
        )
