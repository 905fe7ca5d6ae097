"""``composed``: a selecting curriculum built from config as estimator × score × allocator (docs/methods/composed.md).

Each step (one ``numpy.random.Generator`` seeded by ``seed`` drives every draw, in this order):

1. **candidates**: ``pass`` — the next ``ratio × m`` prompts of a seeded pass permutation (the whole pool when it is
   smaller); ``pool`` — every prompt;
2. **estimator** (:mod:`verl_ext.curriculum.parts.estimators`): p̂ of each candidate — ``beta`` (posterior mean with
   forgetting λ), ``thompson`` (a Beta draw), ``value`` (PCL's V(x) through ``ctx.score``), ``probe`` (``probe_n``
   rollouts each, released);
3. **score** (:mod:`verl_ext.curriculum.parts.scores`) and **selection** of m of them: ``topk`` — the m largest
   scores (ties by candidate order; ``order`` says whether the batch is listed best first, ``rank``, or in candidate
   order), ``softmax`` — m distinct draws ∝ exp((s − s_max)/τ) by successive sampling (CurES's ρ*, Eq. 14, when the
   score is ``cures``), ``threshold`` — m uniformly among p̂ ∈ [lo, hi], short-falls filled by the score (MoPPS);
4. **allocator** (:mod:`verl_ext.curriculum.parts.allocators`): n_i with Σ n_i = m·n exactly — ``fixed``, ``neyman``
   (CurES Eq. 20), ``gvm``, ``knapsack`` (KnapsackRL);
5. submit and commit all m groups; :meth:`observe` gives the trained groups' counts to the estimator.

The named strategies ``mopps``, ``knapsack``, ``cures_online`` (``schedule: pool``), ``pcl`` and ``probe`` are
presets: ``curriculum.params.preset=<name>`` (:data:`PRESETS`) makes exactly their choices for the same seed
(``tests/curriculum/test_composed.py``), and any part can be swapped by one more key, e.g.
``curriculum=composed curriculum.params.preset=mopps curriculum.params.allocator=knapsack``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from verl_ext.curriculum.base import Curriculum, CurriculumConfig, Group, RolloutContext, register_curriculum
from verl_ext.curriculum.cures import MIN_TAU
from verl_ext.curriculum.cures_online import draw_distinct
from verl_ext.curriculum.parts.allocators import (
    ALLOCATORS,
    Allocator,
    FixedAllocator,
    GVMAllocator,
    KnapsackAllocator,
    NeymanAllocator,
)
from verl_ext.curriculum.parts.estimators import (
    ESTIMATORS,
    BetaEstimator,
    Estimate,
    Estimator,
    ProbeEstimator,
    ThompsonEstimator,
    ValueEstimator,
)
from verl_ext.curriculum.parts.scores import SCORES, Score, make_score
from verl_ext.curriculum.parts.select import ORDERS, select_band, select_topk_score
from verl_ext.curriculum.sampler import PassSampler, get_rng_state, set_rng_state
from verl_ext.curriculum.sumtree import SumTree
from verl_ext.curriculum.uniform import group_counts
from verl_ext.curriculum.value_prior import PriorConfig, ValuePriorCapable

__all__ = ["PRESETS", "ComposedConfig", "ComposedCurriculum", "preset_params"]

CANDIDATES = ("pass", "pool")
SELECTS = ("topk", "softmax", "threshold")

# Keys read by each choice (estimator / score / select / allocator / candidates); a key set by the user that no chosen
# part reads is refused, naming the parts that read it.
_READS: dict[str, tuple[str, ...]] = {
    **{f"estimator={k}": c.keys for k, c in ESTIMATORS.items()},
    "score=distance": ("target",),
    "select=topk": ("order",),
    "select=softmax": ("tau",),
    "select=threshold": ("lo", "hi"),
    **{f"allocator={k}": c.keys for k, c in ALLOCATORS.items()},
    "candidates=pass": ("ratio",),
}
_STRUCTURE = ("candidates", "estimator", "score", "select", "allocator")
_PART_KEYS = tuple(sorted({k for keys in _READS.values() for k in keys}))
# Defaults of every key when neither the user nor the preset sets it (n_max: KnapsackRL's 128 for the knapsack).
_DEFAULTS: dict[str, Any] = {
    "candidates": "pass", "ratio": 4, "estimator": "beta", "score": "cures", "allocator": "fixed",
    "alpha0": 1.0, "beta0": 1.0, "forget": 1.0, "probe_n": 4, "target": 0.5, "order": "candidate", "tau": 0.1,
    "lo": 0.3, "hi": 0.7, "n_min": 2, "n_max": 32, "cold_n": None, "min_history": 1, "gvm_alpha": 1e-3,
    "gvm_beta": 2.0, "prior": None,
}  # fmt: skip

# name -> the composed params equal to that strategy at its defaults (docs/methods/composed.md, presets table).
PRESETS: dict[str, dict[str, Any]] = {
    "mopps": {"candidates": "pass", "ratio": 16, "estimator": "thompson", "score": "distance", "target": 0.5,
              "select": "topk", "order": "rank", "allocator": "fixed"},
    "knapsack": {"candidates": "pass", "ratio": 1, "estimator": "beta", "score": "knapsack_value", "select": "topk",
                 "order": "candidate", "allocator": "knapsack", "n_min": 2, "n_max": 128, "min_history": 1},
    "cures_online": {"candidates": "pool", "estimator": "beta", "score": "cures", "select": "softmax", "tau": 0.1,
                     "allocator": "neyman", "n_min": 2, "n_max": 32, "cold_n": 4},
    "pcl": {"candidates": "pass", "ratio": 4, "estimator": "value", "score": "distance", "target": 0.5,
            "select": "topk", "order": "candidate", "allocator": "fixed"},
    "probe": {"candidates": "pass", "ratio": 4, "estimator": "probe", "probe_n": 4, "score": "distance",
              "target": 0.5, "select": "topk", "order": "candidate", "allocator": "fixed"},
}  # fmt: skip


def preset_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``composed`` params that reproduce strategy ``name`` configured with ``params`` (its own option names).

    ``batch_size``, ``n``, ``seed`` and ``max_gen_rounds`` pass through. Options of the named strategy that have no
    composed counterpart (``cures_online``'s ``schedule: subsets``, ``sigma: gradnorm``) are refused by name.
    """
    p = dict(params)
    out: dict[str, Any] = {k: p.pop(k) for k in ("batch_size", "n", "seed", "max_gen_rounds") if k in p}
    out["preset"] = name
    if "prior" in p and name in ("mopps", "cures_online"):
        out["prior"] = p.pop("prior")  # the value-model prior of the Beta estimator (docs/value_prior.md)
    if name == "mopps":
        sel = p.pop("selection", "topk")
        out.update(ratio=p.pop("ratio", 16), target=p.pop("target", 0.5), forget=p.pop("decay", 1.0))
        out.update(alpha0=p.pop("alpha0", 1.0), beta0=p.pop("beta0", 1.0))
        lo, hi = p.pop("lo", 0.3), p.pop("hi", 0.7)
        if sel == "threshold":
            out.update(select="threshold", lo=lo, hi=hi)
    elif name == "knapsack":
        out.update(forget=p.pop("decay", 1.0), alpha0=p.pop("alpha0", 1.0), beta0=p.pop("beta0", 1.0))
        out.update(n_min=p.pop("n_min", 2), n_max=p.pop("n_max", 128), min_history=p.pop("min_history", 1))
    elif name == "cures_online":
        for key, allowed in (("schedule", "pool"), ("sigma", "bernoulli")):
            if p.pop(key, allowed) != allowed:
                raise ValueError(f"cures_online's {key} other than {allowed!r} has no composed preset")
        out.update(alpha0=p.pop("alpha0", 1.0), beta0=p.pop("beta0", 1.0), forget=p.pop("forget", 1.0))
        out["tau"] = p.pop("tau", 0.1) if p.pop("sampling", True) else float("inf")
        pilot_n, cold = p.pop("pilot_n", 4), p.pop("cold_start", "pilot")
        n_min, n_max = p.pop("n_min", 2), p.pop("n_max", 32)
        if p.pop("allocation", True):
            out.update(n_min=n_min, n_max=n_max, cold_n=pilot_n if cold == "pilot" else n_min)  # prior: floor n_min
        else:
            out["allocator"] = "fixed"
        for key in ("subset_sizes", "num_subsets", "steps_per_subset"):
            p.pop(key, None)  # read only with schedule: subsets (refused above)
    elif name == "pcl":
        out.update(ratio=p.pop("k", 4), target=p.pop("tau", 0.5))
    elif name == "probe":
        out.update(ratio=p.pop("k", 4), probe_n=p.pop("probe_n", 4), target=p.pop("tau_p", 0.5))
    else:
        raise ValueError(f"no composed preset for {name!r}; presets: {', '.join(PRESETS)}")
    if p:
        raise ValueError(f"{name} option(s) {sorted(p)} have no composed counterpart")
    return out


@dataclasses.dataclass
class ComposedConfig(CurriculumConfig):
    """``composed`` options (docs/methods/composed.md). Every key defaults to ``None`` = "from the preset, else the
    default"; after construction every key the composition reads holds its value and every other key is ``None``.

    Attributes:
        preset: start from :data:`PRESETS` [name] (mopps, knapsack, cures_online, pcl, probe); other keys override.
        candidates: ``pass`` (``ratio × m`` prompts of a pass permutation) or ``pool`` (every prompt).
        ratio: candidates per batch slot with ``candidates: pass`` (default 4).
        estimator: ``beta`` | ``thompson`` | ``value`` | ``probe``.
        alpha0, beta0, forget: Beta prior and forgetting λ (``beta``, ``thompson``; 1, 1, 1).
        prior: ``{source: none|value_model, strength, eps}`` of ``beta``/``thompson`` (docs/value_prior.md): with
            ``value_model`` a prompt's prior is Beta(c·V, c·(1 − V)) from PCL's value model when first estimated.
        probe_n: probe responses per candidate (``probe``; 4).
        score: ``cures`` | ``informative`` | ``knapsack_value`` | ``distance``.
        target: the success rate ``distance`` selects around (0.5).
        select: ``topk`` | ``softmax`` | ``threshold`` (default: ``softmax`` for the ``cures`` score, else ``topk``).
        order: ``candidate`` or ``rank``, the order of a ``topk`` batch.
        tau: softmax temperature (>= 1e-3, ``.inf`` = uniform; 0.1).
        lo, hi: the ``threshold`` band (0.3, 0.7).
        allocator: ``fixed`` | ``neyman`` | ``gvm`` | ``knapsack``.
        n_min, n_max: per-prompt floor and ceiling (``neyman``, ``gvm``, ``knapsack``; 2 and 32, 128 for knapsack).
        cold_n: ``neyman`` floor of never-seen prompts (``cures_online``'s pilot floor; null = n_min).
        min_history: visits before the ``knapsack`` trusts p̂ (1).
        gvm_alpha, gvm_beta: GVM's weight regulariser (1e-3, 2).
    """

    preset: str | None = None
    candidates: str | None = None
    ratio: int | None = None
    estimator: str | None = None
    alpha0: float | None = None
    beta0: float | None = None
    forget: float | None = None
    probe_n: int | None = None
    score: str | None = None
    target: float | None = None
    select: str | None = None
    order: str | None = None
    tau: float | None = None
    lo: float | None = None
    hi: float | None = None
    allocator: str | None = None
    n_min: int | None = None
    n_max: int | None = None
    cold_n: int | None = None
    min_history: int | None = None
    gvm_alpha: float | None = None
    gvm_beta: float | None = None
    prior: PriorConfig | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        keys = _STRUCTURE + _PART_KEYS
        user = {k: getattr(self, k) for k in keys if getattr(self, k) is not None}
        base: dict[str, Any] = {}
        if self.preset is not None:
            if self.preset not in PRESETS:
                raise ValueError(f"curriculum.params.preset={self.preset!r} is unknown; valid: {', '.join(PRESETS)}")
            base = dict(PRESETS[self.preset])
        merged = {**base, **user}
        for key, valid in (("candidates", CANDIDATES), ("estimator", tuple(ESTIMATORS)), ("score", tuple(SCORES)),
                           ("allocator", tuple(ALLOCATORS))):  # fmt: skip
            merged.setdefault(key, _DEFAULTS[key])
            if merged[key] not in valid:
                raise ValueError(f"curriculum.params.{key}={merged[key]!r} is unknown; valid: {', '.join(valid)}")
        merged.setdefault("select", "softmax" if merged["score"] == "cures" else "topk")
        if merged["select"] not in SELECTS:
            raise ValueError(f"curriculum.params.select={merged['select']!r} is unknown; valid: {', '.join(SELECTS)}")
        reads: dict[str, list[str]] = {}
        for part in (f"{k}={merged[k]}" for k in _STRUCTURE):
            for key in _READS.get(part, ()):
                reads.setdefault(key, []).append(part)
        unused = sorted(k for k in user if k in _PART_KEYS and k not in reads)
        if unused:
            readers = {k: [p for p, ks in _READS.items() if k in ks] for k in unused}
            raise ValueError(
                f"curriculum.params {unused} are set but not read by this composition ("
                + ", ".join(f"{k}={merged[k]}" for k in _STRUCTURE)
                + "); they are read by "
                + "; ".join(f"{k}: {', '.join(r)}" for k, r in readers.items())
            )
        for key in keys:
            value = merged.get(key, _DEFAULTS.get(key)) if (key in _STRUCTURE or key in reads) else None
            if key == "n_max" and key in reads and "n_max" not in merged and merged["allocator"] == "knapsack":
                value = 128
            setattr(self, key, value)
        self._check_values()

    def _check_values(self) -> None:
        where = "curriculum.params"
        if self.ratio is not None and (isinstance(self.ratio, bool) or int(self.ratio) != self.ratio or self.ratio < 1):
            raise ValueError(f"{where}.ratio must be an integer >= 1 (candidates = ratio·m), got {self.ratio!r}")
        if self.alpha0 is not None and not (self.alpha0 > 0 and self.beta0 is not None and self.beta0 > 0):
            raise ValueError(f"{where}.alpha0 and beta0 must be > 0, got {self.alpha0}, {self.beta0}")
        if self.prior is not None:
            self.prior = PriorConfig.parse(self.prior, ComposedCurriculum.prior_sources, "none")
        if self.forget is not None and not 0.0 <= self.forget <= 1.0:
            raise ValueError(f"{where}.forget (λ) must lie in [0, 1] (1 = no forgetting), got {self.forget}")
        if self.probe_n is not None and self.probe_n < 1:
            raise ValueError(f"{where}.probe_n must be >= 1, got {self.probe_n}")
        if self.target is not None and not 0.0 <= self.target <= 1.0:
            raise ValueError(f"{where}.target must lie in [0, 1], got {self.target}")
        if self.order is not None and self.order not in ORDERS:
            raise ValueError(f"{where}.order={self.order!r} is unknown; valid: {', '.join(ORDERS)}")
        if self.tau is not None:
            self.tau = float(self.tau)
            if not self.tau >= MIN_TAU:
                raise ValueError(f"{where}.tau={self.tau} must be >= {MIN_TAU} (or .inf for uniform draws)")
        if self.lo is not None and not (self.hi is not None and 0.0 <= self.lo <= self.hi <= 1.0):
            raise ValueError(f"need 0 <= {where}.lo <= hi <= 1, got {self.lo}, {self.hi}")
        if self.n_min is not None and self.n_max is not None and not 2 <= self.n_min <= self.n <= self.n_max:
            raise ValueError(
                f"need 2 <= {where}.n_min <= n <= {where}.n_max, got n_min={self.n_min}, n={self.n} "
                f"(actor_rollout_ref.rollout.n), n_max={self.n_max} (a group of one has no GRPO baseline)"
            )
        if self.cold_n is not None and not (self.n_min is not None and self.n_min <= self.cold_n <= self.n):
            raise ValueError(f"need n_min <= {where}.cold_n <= n, got cold_n={self.cold_n}, n_min={self.n_min}, "
                             f"n={self.n}")  # fmt: skip
        if self.min_history is not None and self.min_history < 1:
            raise ValueError(f"{where}.min_history must be >= 1, got {self.min_history}")
        if self.gvm_alpha is not None and not self.gvm_alpha > 0:
            raise ValueError(f"{where}.gvm_alpha must be > 0 (GVM: 1e-3), got {self.gvm_alpha}")
        if self.estimator == "probe" and self.candidates == "pool":
            raise ValueError(
                f"{where}.estimator=probe with candidates=pool would roll out every prompt of the pool each step; "
                "use candidates=pass with a ratio"
            )
        if self.estimator == "probe" and self.max_gen_rounds < 2:
            raise ValueError("estimator=probe needs 2 generation rounds per step; set curriculum.max_gen_rounds >= 2")

    def composition(self) -> str:
        """``estimator × score/select × allocator`` for logs and the bench table."""
        return f"{self.estimator} x {self.score}/{self.select} x {self.allocator}"


def _make_estimator(cfg: ComposedConfig, num_prompts: int) -> Estimator:
    if cfg.estimator in ("beta", "thompson"):
        cls = BetaEstimator if cfg.estimator == "beta" else ThompsonEstimator
        assert cfg.alpha0 is not None and cfg.beta0 is not None and cfg.forget is not None
        return cls(num_prompts, cfg.alpha0, cfg.beta0, cfg.forget, cfg.prior, ComposedCurriculum.prior_metric_prefix)
    if cfg.estimator == "value":
        return ValueEstimator(num_prompts)
    assert cfg.probe_n is not None
    return ProbeEstimator(num_prompts, cfg.probe_n)


def _make_allocator(cfg: ComposedConfig) -> Allocator:
    if cfg.allocator == "fixed":
        return FixedAllocator(cfg.n)
    assert cfg.n_min is not None and cfg.n_max is not None
    if cfg.allocator == "neyman":
        return NeymanAllocator(cfg.n, cfg.n_min, cfg.n_max, cfg.cold_n)
    if cfg.allocator == "gvm":
        assert cfg.gvm_alpha is not None and cfg.gvm_beta is not None
        return GVMAllocator(cfg.n, cfg.n_min, cfg.n_max, cfg.gvm_alpha, cfg.gvm_beta)
    assert cfg.min_history is not None
    return KnapsackAllocator(cfg.n, cfg.n_min, cfg.n_max, cfg.min_history)


@register_curriculum("composed")
class ComposedCurriculum(ValuePriorCapable, Curriculum):
    """Estimator × score × allocator from ``curriculum.params`` (see the module docstring).

    PCL's value model (``+value_model=pcl``) is attached by the value-prior capability for the ``value`` estimator
    and for ``beta``/``thompson`` with ``prior.source=value_model``: the trainer builds its worker group, ``ctx.score``
    serves V(x) and V is trained online on the trained groups' ȳ after every step (PCL Alg. 1 line 8).
    """

    config_class = ComposedConfig
    prior_metric_prefix = "composed"

    @classmethod
    def prior_of(cls, params: Mapping[str, Any]) -> PriorConfig:
        """Whether ``params`` read PCL's value model: ``value_model`` for the ``value`` estimator, the ``prior`` node
        for ``beta``/``thompson``, ``none`` otherwise (read before Ray starts, and for the trainer's extensions)."""
        preset = PRESETS.get(str(params.get("preset")), {})
        estimator = params.get("estimator") or preset.get("estimator") or _DEFAULTS["estimator"]
        if estimator == "value":
            return PriorConfig(source="value_model")
        if estimator in ("beta", "thompson"):
            return PriorConfig.parse(params.get("prior"), cls.prior_sources, cls.prior_default)
        return PriorConfig()

    @classmethod
    def value_model_reason(cls, params: Mapping[str, Any]) -> tuple[str, str]:
        """``curriculum.params.estimator=value`` when the estimator is PCL's value model, else the prior node."""
        preset = PRESETS.get(str(params.get("preset")), {})
        if (params.get("estimator") or preset.get("estimator")) == "value":
            via = f" (from preset={params.get('preset')})" if not params.get("estimator") else ""
            return f"curriculum.params.estimator=value{via}", "choose another estimator (beta, thompson, probe)"
        return super().value_model_reason(params)

    def __init__(self, config: ComposedConfig, num_prompts: int) -> None:
        super().__init__(config, num_prompts)
        self.config: ComposedConfig = config
        cfg = config
        if cfg.batch_size > num_prompts:
            raise ValueError(
                f"data.train_batch_size = {cfg.batch_size} distinct prompts per step but the pool has {num_prompts}"
            )
        self.rng = np.random.default_rng(cfg.seed)
        self.sampler: PassSampler | None = None
        self.pool_size = num_prompts
        if cfg.candidates == "pass":
            assert cfg.ratio is not None
            self.sampler = PassSampler(num_prompts, self.rng)
            self.pool_size = min(int(cfg.ratio) * cfg.batch_size, num_prompts)
        self.estimator = _make_estimator(cfg, num_prompts)
        self.score: Score = make_score(str(cfg.score), cfg.n, cfg.target)
        self.allocator = _make_allocator(cfg)
        # softmax over the whole pool with a deterministic p̂: weights kept in a sum tree, refreshed for the prompts
        # whose p̂ changed (O(m log P) per step, as cures_online); otherwise weights are computed per step
        self.tree: SumTree | None = None
        if cfg.candidates == "pool" and cfg.select == "softmax" and self.estimator.deterministic:
            self.tree = SumTree(self._weights(self.estimator.mean()))
        self.step = 0

    # ------------------------------------------------------------------------------------------- selection
    def _weights(self, p: np.ndarray) -> np.ndarray:
        assert self.config.tau is not None
        return np.exp(self.score.log_weights(p, self.config.tau))

    def _select(self, est: Estimate) -> tuple[np.ndarray, dict[str, float]]:
        """Positions (into the candidates) of the m kept prompts, and selection metrics."""
        cfg, m = self.config, self.config.batch_size
        if cfg.select == "topk":
            assert cfg.order is not None
            return select_topk_score(self.score.values(est.p), m, cfg.order), {}
        if cfg.select == "threshold":
            assert cfg.lo is not None and cfg.hi is not None
            # MoPPS's band; a shortfall is filled by the best scores (closest to target for the distance score)
            keep, short = select_band(est.p, m, cfg.lo, cfg.hi, self.score.values(est.p), self.rng)
            return keep, {"composed/threshold_shortfall": float(short)}
        tree = SumTree(self._weights(est.p))
        return draw_distinct(tree, m, self.rng), {}

    # ------------------------------------------------------------------------------------------------ step
    def run_step(self, ctx: RolloutContext) -> dict[str, float]:
        """Candidates → p̂ → m selected → n_i; submit and commit (module docstring)."""
        cfg = self.config
        self.step = int(ctx.step)
        t0 = time.perf_counter()
        metrics: dict[str, float] = {}
        if self.tree is not None:  # softmax over the pool, weights maintained: draw first, estimate the m only
            idx = draw_distinct(self.tree, cfg.batch_size, self.rng)
            est = self.estimator.estimate(idx, ctx, self.rng)
            if getattr(self.estimator, "value_prior", False):  # priors just set: their ρ* weights change now
                order = np.sort(idx)
                self.tree.update(order, self._weights(self.estimator.mean(order)))
        else:
            cand = self.sampler.next(self.pool_size) if self.sampler is not None else np.arange(self.num_prompts)
            est_all = self.estimator.estimate(cand, ctx, self.rng)
            keep, metrics = self._select(est_all)
            idx, est = cand[keep], est_all.take(keep)
            metrics["composed/candidates"] = float(cand.size)
        n = self.allocator.allocate(est, cfg.batch_size * cfg.n)
        select_s = time.perf_counter() - t0
        metrics.update(getattr(self.estimator, "prior_metrics", {}))
        groups = ctx.submit(idx, n)
        ctx.commit(groups)
        metrics.update(
            {
                "composed/select_s": select_s,
                "composed/phat_selected_mean": float(np.mean(est.p)),
                "composed/score_selected_mean": float(np.mean(self.score.values(est.p))),
                "composed/n_min": float(n.min()),
                "composed/n_mean": float(n.mean()),
                "composed/n_max": float(n.max()),
            }
        )
        return metrics

    def observe(self, trained: Sequence[Group], screened: Sequence[Group] = ()) -> dict[str, float]:
        """The trained groups' (index, n, s = #reward > 0.5) go to the estimator; softmax weights are refreshed."""
        t0 = time.perf_counter()
        idx, n, s = group_counts(trained)
        changed = self.estimator.observe(idx, n, s)
        if self.tree is not None and changed.size:
            self.tree.update(changed, self._weights(self.estimator.mean(changed)))
        return {"composed/update_s": time.perf_counter() - t0}

    def predicted_success(self, indices: np.ndarray) -> np.ndarray | None:
        """The estimator's p̂ for ``indices`` (posterior mean, clip(V), probe mean; NaN where it has none)."""
        return self.estimator.predicted_success(np.asarray(indices, dtype=np.int64))

    # ---------------------------------------------------------------------------------------------- state
    def fingerprint(self) -> str:
        """Hash of the composition and the keys that change what the estimator's state means."""
        return self.config_fingerprint(_STRUCTURE + ("alpha0", "beta0", "probe_n", "seed"))

    def state_dict(self) -> dict[str, Any]:
        """RNG, pass sampler, the estimator's state, step and the composition's fingerprint."""
        return {
            "num_prompts": self.num_prompts,
            "fingerprint": self.fingerprint(),
            "rng": get_rng_state(self.rng),
            "sampler": None if self.sampler is None else self.sampler.state_dict(),
            "estimator": self.estimator.state_dict(),
            "step": self.step,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (same pool and composition) and recompute the softmax weights."""
        if int(state["num_prompts"]) != self.num_prompts or state["fingerprint"] != self.fingerprint():
            raise ValueError(
                f"the checkpointed composed curriculum had a pool of {state['num_prompts']} prompts and another "
                f"composition or prior (now {self.config.composition()}); resume with the same data and params"
            )
        set_rng_state(self.rng, state["rng"])
        if self.sampler is not None:
            self.sampler.load_state_dict(state["sampler"])
        self.estimator.load_state_dict(state["estimator"])
        self.step = int(state["step"])
        if self.tree is not None:
            self.tree.rebuild(self._weights(self.estimator.mean()))
