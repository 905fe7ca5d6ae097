"""A synthetic learner for the arena's simulated mode (docs/arena.md §"The simulated learner").

**This is a model, not an LLM.** It has no tokens and no gradients; it only reproduces what curricula react to: a
large pool of prompts of graded difficulty whose success rates rise when the learner trains on groups that carry a
training signal, with transfer to related prompts.

Pool (``P`` training prompts, ``H`` held-out prompts, ``L`` difficulty levels, ``C`` clusters; every cluster lies in
one level): prompt i of cluster c(i) and level ℓ(i) has the logit

    z_i(t) = b_i + φ_i(t) + θ_{c(i)}(t) + γ(t),   p_i(t) = σ(z_i(t)),                                   (S1)
    b_i = a_{ℓ(i)} + u_{c(i)} + ε_i,  a_ℓ = a_0 − Δ·ℓ,  u_c ~ N(0, σ_c²),  ε_i ~ N(0, σ_p²)             (S2)

(φ: the prompt's own progress, θ: its cluster's, γ: global; all start at 0; held-out prompts have φ ≡ 0, so they
improve only through transfer). After a step that trains groups j = 1..J (prompt i_j, rewards r_j) the learner moves
by the groups' training signal, the mean absolute GRPO advantage of the group (verl's GRPO estimator, as SEC uses):

    s_j = mean_k |A_jk|,  A_jk = (r_jk − mean r_j) / (std r_j + 1e-6)     (0 for a group with equal rewards)  (S3)
    φ_{i_j} += η_p · s_j;   θ_c += η_c · Σ_{j: c(i_j)=c} s_j;   γ += η_g · Σ_j s_j                     (S4)

so a group with all-equal rewards teaches nothing (the wasted rollouts of GRPO), and a group near p = 0.5 teaches most
(s ≈ 2√(p(1−p))). Held-out accuracy = mean_h p_h(t) over the fixed held-out prompts (expected success, no sampling).

:class:`SimContext` is the :class:`~verl_ext.curriculum.testing.FakeRolloutContext` (Bernoulli rewards from the
current p) whose success rates follow the learner, with a noisy value oracle for ``score`` (PCL):
V_i = σ(z_i(t) + ν_i), ν_i ~ N(0, σ_V²) fixed per prompt — a value model that tracks the learner with a fixed error.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from verl_ext.curriculum.base import Group
from verl_ext.curriculum.sec import grpo_abs_advantage
from verl_ext.curriculum.testing import FakeRolloutContext

__all__ = ["SimContext", "SimSettings", "SimulatedLearner", "group_signal", "sigmoid"]


def sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1 / (1 + e^(−z)), elementwise."""
    return 1.0 / (1.0 + np.exp(-z))


def group_signal(rewards: np.ndarray) -> float:
    """s_j of Eq. (S3): the mean |GRPO advantage| of one group (0 when every reward is equal)."""
    r = np.asarray(rewards, dtype=np.float64)
    if r.size == 0:
        return 0.0
    return float(grpo_abs_advantage(r).mean())


@dataclasses.dataclass(frozen=True)
class SimSettings:
    """The learner's constants (Eqs. S1–S4); defaults are the arena's (docs/arena.md).

    Attributes:
        num_prompts: P, training pool size. heldout: H, held-out prompts. levels: L. clusters: C (a multiple of L is
            not required; cluster c lies in level c mod L). subsets: labels 1..T drawn uniformly per prompt (for
            strategies that split the data into subsets, e.g. CurES Algorithm 1).
        a0, delta: a_ℓ = a0 − delta·ℓ. sigma_cluster, sigma_prompt: σ_c, σ_p of Eq. (S2).
        eta_prompt, eta_cluster, eta_global: η_p, η_c, η_g of Eq. (S4).
        value_noise: σ_V of the value oracle.
    """

    num_prompts: int = 100_000
    heldout: int = 2_000
    levels: int = 8
    clusters: int = 1_000
    subsets: int = 15
    a0: float = 3.0
    delta: float = 1.0
    sigma_cluster: float = 0.5
    sigma_prompt: float = 1.0
    eta_prompt: float = 0.5
    eta_cluster: float = 0.02
    eta_global: float = 2e-5
    value_noise: float = 0.75

    def __post_init__(self) -> None:
        for key in ("num_prompts", "heldout", "levels", "clusters", "subsets"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"simulator {key} must be >= 1, got {getattr(self, key)}")
        if self.clusters < self.levels:
            raise ValueError(f"simulator clusters ({self.clusters}) must be >= levels ({self.levels})")
        for key in ("eta_prompt", "eta_cluster", "eta_global", "value_noise", "sigma_cluster", "sigma_prompt"):
            if float(getattr(self, key)) < 0:
                raise ValueError(f"simulator {key} must be >= 0, got {getattr(self, key)}")


class SimulatedLearner:
    """State and dynamics of Eqs. (S1)–(S4); every draw comes from ``seed`` (the pool is the same for every curriculum
    of one seed)."""

    def __init__(self, settings: SimSettings, seed: int) -> None:
        s = settings
        self.settings = s
        rng = np.random.default_rng([seed, 7])
        total = s.num_prompts + s.heldout
        self.cluster = rng.integers(0, s.clusters, size=total).astype(np.int64)
        self.level = (self.cluster % s.levels).astype(np.int64)
        u = rng.normal(0.0, s.sigma_cluster, size=s.clusters)
        eps = rng.normal(0.0, s.sigma_prompt, size=total)
        self.base = s.a0 - s.delta * self.level + u[self.cluster] + eps
        self.subset = rng.integers(1, s.subsets + 1, size=s.num_prompts).astype(np.int64)
        self.value_noise = rng.normal(0.0, s.value_noise, size=s.num_prompts)
        self.phi = np.zeros(s.num_prompts)
        self.theta = np.zeros(s.clusters)
        self.gamma = 0.0

    @property
    def num_prompts(self) -> int:
        """P, the training pool size (dataset indices 0..P−1)."""
        return self.settings.num_prompts

    def logits(self) -> np.ndarray:
        """z_i(t) of the training pool, Eq. (S1); shape ``(P,)``."""
        p = self.settings.num_prompts
        return self.base[:p] + self.phi + self.theta[self.cluster[:p]] + self.gamma

    def success_rates(self) -> np.ndarray:
        """p_i(t) of the training pool; shape ``(P,)``."""
        return sigmoid(self.logits())

    def heldout_accuracy(self) -> float:
        """Mean p_h(t) over the held-out prompts (φ ≡ 0 there: transfer only)."""
        p = self.settings.num_prompts
        z = self.base[p:] + self.theta[self.cluster[p:]] + self.gamma
        return float(sigmoid(z).mean())

    def values(self, indices: np.ndarray) -> np.ndarray:
        """The value oracle V_i = σ(z_i(t) + ν_i) for ``indices``."""
        idx = np.asarray(indices, dtype=np.int64)
        z = self.base[idx] + self.phi[idx] + self.theta[self.cluster[idx]] + self.gamma + self.value_noise[idx]
        return sigmoid(z)

    def train(self, groups: Sequence[Group]) -> float:
        """Apply Eq. (S4) for the trained ``groups``; returns Σ_j s_j."""
        s = self.settings
        if not groups:
            return 0.0
        idx = np.array([g.index for g in groups], dtype=np.int64)
        if idx.min() < 0 or idx.max() >= s.num_prompts:
            raise ValueError(f"trained group indices must lie in [0, {s.num_prompts}); got {idx.min()}..{idx.max()}")
        sig = np.array([group_signal(np.asarray(g.rewards)) for g in groups])
        np.add.at(self.phi, idx, s.eta_prompt * sig)
        np.add.at(self.theta, self.cluster[idx], s.eta_cluster * sig)
        self.gamma += s.eta_global * float(sig.sum())
        return float(sig.sum())

    def write_pool(self, path: Path) -> Path:
        """The pool's data fields as a parquet file in the data contract's ``extra_info`` layout (index, level,
        difficulty = level, cluster, subset), for strategies that read a field of the training data (SEC's arms,
        AdaRFT's difficulty)."""
        import pandas as pd

        p = self.settings.num_prompts
        extra = [
            {"index": i, "level": int(lv), "difficulty": float(lv), "cluster": int(c), "subset": int(sb)}
            for i, lv, c, sb in zip(range(p), self.level[:p], self.cluster[:p], self.subset, strict=True)
        ]
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"extra_info": extra}).to_parquet(path)
        return path


class _LiveRates:
    """p_i(t) computed on demand from the learner's current state (``rates[i]`` for an int or an index array), so a
    step costs O(groups) instead of O(P) to keep the context's success rates current."""

    def __init__(self, learner: SimulatedLearner) -> None:
        self.learner = learner

    def __getitem__(self, index: Any) -> Any:
        lr = self.learner
        z = lr.base[index] + lr.phi[index] + lr.theta[lr.cluster[index]] + lr.gamma
        return sigmoid(z)


class SimContext(FakeRolloutContext):
    """The fake rollout context over a :class:`SimulatedLearner`: rewards ~ Bernoulli(p_i(t)), ``score`` = the value
    oracle. Records the time spent generating (subtracted from selection time) and the scores it served."""

    def __init__(self, learner: SimulatedLearner, seed: int) -> None:
        super().__init__(learner.success_rates(), seed=seed, value_fn=learner.values)
        self.learner = learner
        self.success_rates = _LiveRates(learner)  # type: ignore[assignment]
        self.gen_seconds = 0.0
        self.scored: dict[int, float] = {}
        self._depth = 0

    def new_step(self) -> None:
        """Advance the step; forget groups older than the previous step (no group outlives a step by more) and
        reset the per-step counters."""
        super().new_step()
        if len(self.history) > 3:
            for rec in self.history[:-3]:
                for h in rec.generated:
                    self._rewards.pop(h, None)
                    self._index.pop(h, None)
            del self.history[:-3]
        self.gen_seconds = 0.0
        self.scored = {}

    def _timed(self, fn: Any, *args: Any) -> Any:
        self._depth += 1
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self._depth -= 1
            if self._depth == 0:
                self.gen_seconds += time.perf_counter() - t0

    def generate(self, indices: np.ndarray, n: int | np.ndarray) -> list[Group]:
        """:meth:`FakeRolloutContext.generate`, timed."""
        return self._timed(super().generate, indices, n)

    def submit(self, indices: np.ndarray, n: int | np.ndarray) -> list[Group]:
        """:meth:`FakeRolloutContext.submit`, timed."""
        return self._timed(super().submit, indices, n)

    def extend(self, groups: Sequence[Group], n_more: int | np.ndarray) -> list[Group]:
        """:meth:`FakeRolloutContext.extend`, timed."""
        return self._timed(super().extend, groups, n_more)

    def generate_and_extend(
        self, indices: np.ndarray, n: int | np.ndarray, groups: Sequence[Group], n_more: int | np.ndarray
    ) -> tuple[list[Group], list[Group]]:
        """:meth:`FakeRolloutContext.generate_and_extend`, timed once."""
        return self._timed(super().generate_and_extend, indices, n, groups, n_more)

    def score(self, indices: np.ndarray) -> np.ndarray:
        """The value oracle's V for ``indices`` (timed like generation; remembered for calibration)."""
        out = self._timed(super().score, indices)
        self.scored.update(zip(np.asarray(indices, dtype=np.int64).tolist(), out.tolist(), strict=True))
        return out
