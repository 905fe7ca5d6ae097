"""Observability shared by every curriculum: one definition per figure, used by the trainer and the arena.

docs/metrics.md gives the logged keys; the definitions are:

* **zero-advantage group**: a group whose rewards are all equal. GRPO's group-normalised advantage (r − mean)/std is
  then 0 for every response, so the group trains nothing. For binary rewards: 0 or n successes out of n.
* **effective ratio**: share of trained groups that are not zero-advantage (for binary rewards 0 < mean < 1).
* **wasted fraction**: share of trained response *tokens* in zero-advantage groups (weights = tokens per group; the
  arena's simulated learner has no tokens and weighs each response 1).
* **pool health** (:class:`PromptTracker`): each prompt's last observed success p̂ (successes / responses of all its
  groups of the last step that rolled it out, screening included); the shares of the *seen* prompts with p̂ < 0.05,
  p̂ > 0.95 and in between, the share of the pool never rolled out, and coverage (share of the pool trained at
  least once).
* **calibration** (:func:`calibration`) of a strategy's predicted p (``Curriculum.predicted_success``) against the
  realised success ȳ = successes / n of each trained group: bias = mean_i p_i − mean_i ȳ_i (> 0: over-predicts
  success), Pearson and Spearman over groups, Brier over responses,
  (1/Σn)·Σ_i Σ_j (p_i − r_ij)² = Σ_i n_i·(p_i² − 2p_iȳ_i + ȳ_i) / Σ n_i for binary r.

Pure numpy; no verl or Ray import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from verl_ext.curriculum.base import Group

__all__ = [
    "HIGH",
    "LOW",
    "PromptTracker",
    "calibration",
    "effective_ratio",
    "spearman",
    "wasted_fraction",
    "zero_advantage",
]

LOW, HIGH = 0.05, 0.95  # pool-health bounds on the last observed p̂ (docs/metrics.md)


def zero_advantage(groups: Sequence[Group]) -> np.ndarray:
    """Bool mask over ``groups``: True where every reward of the group is equal (zero GRPO advantage).

    Groups without rewards (``n == 0``) are True (they train nothing either).
    """
    return np.array([g.n == 0 or float(np.ptp(np.asarray(g.rewards, dtype=np.float64))) == 0.0 for g in groups],
                    dtype=bool)  # fmt: skip


def effective_ratio(groups: Sequence[Group]) -> float | None:
    """Share of ``groups`` (with rewards) whose rewards are not all equal; ``None`` without such groups."""
    scored = [g for g in groups if g.n > 0]
    if not scored:
        return None
    return float((~zero_advantage(scored)).mean())


def wasted_fraction(groups: Sequence[Group], weights: Sequence[float] | np.ndarray) -> float | None:
    """Σ weights of zero-advantage groups / Σ weights (weights: tokens, or responses, per group).

    Args:
        groups: the trained groups.
        weights: one non-negative weight per group, same order (response tokens in the trainer).

    Returns:
        the fraction, or ``None`` when the weights sum to 0.

    Raises:
        ValueError: when the lengths differ or a weight is negative, naming the sizes.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(groups),):
        raise ValueError(f"wasted_fraction: {len(groups)} groups but weights of shape {w.shape}")
    if np.any(w < 0):
        raise ValueError(f"wasted_fraction: negative weights at positions {np.flatnonzero(w < 0)[:10].tolist()}")
    total = float(w.sum())
    if total <= 0.0:
        return None
    return float(w[zero_advantage(groups)].sum() / total)


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..k−1 with ties given their mean rank (the ranking of Spearman's ρ)."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = np.arange(x.size, dtype=np.float64)
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    return (np.bincount(inv, weights=ranks) / counts)[inv]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's ρ: Pearson correlation of the average ranks; NaN when either input is constant."""
    rx, ry = _average_ranks(np.asarray(x, dtype=np.float64)), _average_ranks(np.asarray(y, dtype=np.float64))
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def calibration(predicted: np.ndarray, realised: np.ndarray, n: np.ndarray) -> dict[str, float]:
    """Calibration of predicted p vs the realised success of groups (see the module docstring).

    Args:
        predicted: p_i in [0, 1], shape ``(k,)``.
        realised: ȳ_i = successes / n_i, shape ``(k,)``.
        n: responses per group, shape ``(k,)``, positive.

    Returns:
        ``bias`` and ``brier`` always; ``pearson`` and ``spearman`` when there are ≥ 2 groups and neither side is
        constant (left out otherwise).

    Raises:
        ValueError: on misaligned or empty inputs, predictions outside [0, 1] or non-positive group sizes.
    """
    p = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(realised, dtype=np.float64)
    w = np.asarray(n, dtype=np.float64)
    if p.ndim != 1 or p.size == 0 or p.shape != y.shape or p.shape != w.shape:
        raise ValueError(
            f"calibration: predicted {p.shape}, realised {y.shape} and n {w.shape} must be equal (k,), k>0"
        )
    bad = np.flatnonzero(~((p >= 0.0) & (p <= 1.0)))
    if bad.size:
        raise ValueError(f"calibration: predictions outside [0, 1] at rows {bad[:10].tolist()}: {p[bad[:10]]}")
    if np.any(w <= 0):
        raise ValueError(f"calibration: groups without responses at rows {np.flatnonzero(w <= 0)[:10].tolist()}")
    out = {"bias": float(p.mean() - y.mean()), "brier": float((w * (p * p - 2.0 * p * y + y)).sum() / w.sum())}
    if p.size > 1 and np.ptp(p) > 0 and np.ptp(y) > 0:
        out["pearson"] = float(np.corrcoef(p, y)[0, 1])
        out["spearman"] = spearman(p, y)
    return out


class PromptTracker:
    """Each prompt's last observed success p̂ and whether it was ever trained: pool health and coverage.

    Memory is O(pool): one float32 (NaN = never rolled out) and one bool per prompt, 5 MB at 10^6 prompts. An update
    is vectorised over the step's groups and keeps running counts, so :meth:`metrics` costs O(1); nothing scans the
    pool except :meth:`load_state_dict` (one recount).

    Args:
        num_prompts: pool size; indices are ``0..num_prompts-1`` (the data contract's ``extra_info.index``).
    """

    def __init__(self, num_prompts: int) -> None:
        if num_prompts < 1:
            raise ValueError(f"PromptTracker needs a non-empty pool, got num_prompts={num_prompts}")
        self.num_prompts = int(num_prompts)
        self.last = np.full(self.num_prompts, np.nan, dtype=np.float32)
        self.trained = np.zeros(self.num_prompts, dtype=bool)
        self._recount()

    @staticmethod
    def _bins(values: np.ndarray) -> np.ndarray:
        """Counts of (p̂ < LOW, LOW ≤ p̂ ≤ HIGH, p̂ > HIGH) among the finite ``values``."""
        v = values[np.isfinite(values)]
        low, high = int((v < LOW).sum()), int((v > HIGH).sum())
        return np.array([low, v.size - low - high, high], dtype=np.int64)

    def _recount(self) -> None:
        self._counts = self._bins(self.last)
        self._trained_count = int(self.trained.sum())

    def update(self, trained: Sequence[Group], screened: Sequence[Group] = ()) -> None:
        """Record one step: every group with rewards sets its prompt's p̂ (a prompt's groups of the step pooled);
        the prompts of ``trained`` are marked trained."""
        groups = [g for g in (*trained, *screened) if g.n > 0]
        self.update_arrays(
            np.array([g.index for g in groups], dtype=np.int64),
            np.array([g.successes for g in groups], dtype=np.int64),
            np.array([g.n for g in groups], dtype=np.int64),
            np.array([g.index for g in trained], dtype=np.int64),
        )

    def update_arrays(
        self, indices: np.ndarray, successes: np.ndarray, sizes: np.ndarray, trained_indices: np.ndarray
    ) -> None:
        """Vectorised core of :meth:`update`.

        Args:
            indices, successes, sizes: one row per observed group (int64, equal shapes ``(g,)``, sizes ≥ 1).
            trained_indices: dataset indices trained this step (repeats allowed).

        Raises:
            ValueError: naming the rows whose index lies outside the pool or whose size is < 1.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        succ = np.asarray(successes, dtype=np.float64).reshape(-1)
        size = np.asarray(sizes, dtype=np.float64).reshape(-1)
        tidx = np.asarray(trained_indices, dtype=np.int64).reshape(-1)
        if not (idx.shape == succ.shape == size.shape):
            raise ValueError(f"PromptTracker: indices {idx.shape}, successes {succ.shape}, sizes {size.shape} differ")
        for name, arr in (("indices", idx), ("trained_indices", tidx)):
            bad = np.flatnonzero((arr < 0) | (arr >= self.num_prompts))
            if bad.size:
                raise ValueError(f"PromptTracker: {name} outside the pool of {self.num_prompts} at rows "
                                 f"{bad[:10].tolist()} (values {arr[bad[:10]].tolist()})")  # fmt: skip
        bad = np.flatnonzero(size < 1)
        if bad.size:
            raise ValueError(f"PromptTracker: groups with fewer than 1 response at rows {bad[:10].tolist()}")
        if idx.size:
            uniq, inv = np.unique(idx, return_inverse=True)
            phat = (np.bincount(inv, weights=succ) / np.bincount(inv, weights=size)).astype(np.float32)
            self._counts -= self._bins(self.last[uniq])
            self.last[uniq] = phat
            self._counts += self._bins(phat)
        if tidx.size:
            uniq_t = np.unique(tidx)
            self._trained_count += int((~self.trained[uniq_t]).sum())
            self.trained[uniq_t] = True

    def metrics(self) -> dict[str, float]:
        """``seen_lt_0.05``, ``seen_between``, ``seen_gt_0.95`` (shares of the seen prompts; absent before any is
        seen), ``unseen`` (share of the pool) and ``coverage`` (share of the pool trained at least once)."""
        seen = int(self._counts.sum())
        out = {"unseen": 1.0 - seen / self.num_prompts, "coverage": self._trained_count / self.num_prompts}
        if seen:
            low, mid, high = (float(c) / seen for c in self._counts)
            out.update({"seen_lt_0.05": low, "seen_between": mid, "seen_gt_0.95": high})
        return out

    def state_dict(self) -> dict[str, Any]:
        """The two per-prompt arrays (float32 p̂, bit-packed trained flags), for the trainer's checkpoint."""
        return {"num_prompts": self.num_prompts, "last": self.last.copy(), "trained": np.packbits(self.trained)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (refuses another pool size) and recount."""
        if int(state["num_prompts"]) != self.num_prompts:
            raise ValueError(f"PromptTracker state is for a pool of {state['num_prompts']} prompts, this run has "
                             f"{self.num_prompts}")  # fmt: skip
        self.last = np.asarray(state["last"], dtype=np.float32).copy()
        self.trained = np.unpackbits(np.asarray(state["trained"], dtype=np.uint8), count=self.num_prompts).astype(bool)
        self._recount()
