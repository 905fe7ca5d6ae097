"""Scores of the composable curricula (docs/methods/composed.md): how useful a prompt of success rate p is.

Every score is "larger is better" and bounded above (``upper``), so a softmax over a score is computed as
``exp((s − upper)/τ)`` with every exponent ≤ 0. The four scores:

- ``cures``: CurES's √(p(1−p)) (arXiv 2510.01037 Eq. 14: ρ*(x) ∝ exp(√(p(1−p))/τ)); its log-weights are
  :func:`verl_ext.curriculum.cures.log_weights`, the same function ``cures_online`` and ``cures_algorithm1`` use;
- ``informative``: the probability that a group of n binary rewards is neither all right nor all wrong,
  1 − pⁿ − (1−p)ⁿ (the "effective group" of DAPO's dynamic sampling and KnapsackRL's value, arXiv 2509.25849);
- ``knapsack_value``: KnapsackRL's value of n rollouts, (1 − pⁿ − (1−p)ⁿ)·p·(1−p)² (arXiv 2509.25849);
- ``distance``: −|p − target| (PCL Alg. 1 line 4's |V(x) − τ|, arXiv 2510.01135; MoPPS's top-B selection by
  (p̃ − target)², arXiv 2507.04632, ranks the same prompts first).

``cures``, ``informative`` and ``knapsack_value`` read p clipped to [0, 1] (a value model's raw V may leave it);
``distance`` ranks the raw p (PCL ranks the raw value, never a clipped one).
"""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np

from verl_ext.curriculum.cures import log_weights as cures_log_weights

__all__ = [
    "SCORES",
    "CuresScore",
    "DistanceScore",
    "InformativeScore",
    "KnapsackValueScore",
    "Score",
    "cures_score",
    "distance_score",
    "group_informative",
    "knapsack_value",
    "make_score",
]


def cures_score(p: np.ndarray) -> np.ndarray:
    """√(p(1−p)), the exponent of CurES's ρ* (Eq. 14), shape of ``p``; maximum 0.5 at p = 0.5."""
    q = np.asarray(p, dtype=np.float64)
    return np.sqrt(q * (1.0 - q))


def group_informative(p: np.ndarray | float, n: np.ndarray | int) -> np.ndarray:
    """1 − pⁿ − (1−p)ⁿ: probability that n Bernoulli(p) rewards are not all equal (a group with a GRPO signal)."""
    q = np.asarray(p, dtype=np.float64)
    k = np.asarray(n, dtype=np.float64)
    return 1.0 - q**k - (1.0 - q) ** k


def knapsack_value(p: np.ndarray | float, n: np.ndarray | int) -> np.ndarray:
    """value(p, n) = (1 − pⁿ − (1 − p)ⁿ)·p·(1 − p)² (KnapsackRL's value of n rollouts at success rate p)."""
    q = np.asarray(p, dtype=np.float64)
    return group_informative(q, n) * q * (1.0 - q) ** 2


def distance_score(p: np.ndarray, target: float) -> np.ndarray:
    """−|p − target| (PCL Alg. 1 line 4, on the raw p); maximum 0 at p = target."""
    return -np.abs(np.asarray(p, dtype=np.float64) - target)


class Score(abc.ABC):
    """A score s(p) ≤ ``upper`` over candidates; ``keys`` are the ``curriculum.params`` it reads."""

    name: ClassVar[str]
    keys: ClassVar[tuple[str, ...]] = ()
    upper: ClassVar[float]

    @abc.abstractmethod
    def values(self, p: np.ndarray) -> np.ndarray:
        """s(p), float64, shape of ``p``."""

    def log_weights(self, p: np.ndarray, tau: float) -> np.ndarray:
        """log of the softmax weights exp((s − upper)/τ), all ≤ 0; zeros at τ = ∞ (uniform)."""
        s = self.values(p)
        if np.isinf(tau):
            return np.zeros_like(s)
        return (s - self.upper) / tau


class CuresScore(Score):
    """CurES √(p(1−p)) (Eq. 14); softmax weights through :func:`verl_ext.curriculum.cures.log_weights`."""

    name = "cures"
    upper = 0.5

    def values(self, p: np.ndarray) -> np.ndarray:
        return cures_score(np.clip(p, 0.0, 1.0))

    def log_weights(self, p: np.ndarray, tau: float) -> np.ndarray:
        return cures_log_weights(np.clip(p, 0.0, 1.0), tau)


class InformativeScore(Score):
    """1 − pⁿ − (1−p)ⁿ at the mean budget n (``curriculum n``)."""

    name = "informative"
    upper = 1.0

    def __init__(self, n: int) -> None:
        self.n = int(n)

    def values(self, p: np.ndarray) -> np.ndarray:
        return group_informative(np.clip(p, 0.0, 1.0), self.n)


class KnapsackValueScore(Score):
    """KnapsackRL's value(p, n) at the mean budget n; its maximum over p is below 4/27."""

    name = "knapsack_value"
    upper = 4.0 / 27.0  # max of p(1−p)² (at p = 1/3); the informative factor is ≤ 1

    def __init__(self, n: int) -> None:
        self.n = int(n)

    def values(self, p: np.ndarray) -> np.ndarray:
        return knapsack_value(np.clip(p, 0.0, 1.0), self.n)


class DistanceScore(Score):
    """−|p − target| on the raw p (``curriculum.params.target``)."""

    name = "distance"
    keys = ("target",)
    upper = 0.0

    def __init__(self, target: float) -> None:
        self.target = float(target)

    def values(self, p: np.ndarray) -> np.ndarray:
        return distance_score(p, self.target)


SCORES: dict[str, type[Score]] = {c.name: c for c in (CuresScore, InformativeScore, KnapsackValueScore, DistanceScore)}


def make_score(name: str, n: int, target: float | None) -> Score:
    """The score ``name`` (``curriculum.params.score``); unknown names raise naming the valid ones."""
    if name == "cures":
        return CuresScore()
    if name == "informative":
        return InformativeScore(n)
    if name == "knapsack_value":
        return KnapsackValueScore(n)
    if name == "distance":
        assert target is not None
        return DistanceScore(target)
    raise ValueError(f"curriculum.params.score={name!r} is unknown; valid: {', '.join(SCORES)}")
