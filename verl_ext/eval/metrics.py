"""Evaluation metrics: avg@k, the unbiased pass@k estimator, sampling spread and the papers' Avg column.

Scores are binary rewards arranged as a ``(P, k)`` array: P problems, k samples per problem (sample index j is the
j-th response drawn for a problem). Everything is a fraction in [0, 1]; tables convert to percent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "avg_at_k",
    "pass_at_k",
    "pass_at_k_problem",
    "paper_avg",
    "sample_spread",
    "scores_matrix",
    "summarize_scores",
]


def _check_matrix(scores: np.ndarray) -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"scores must be a non-empty (problems, samples) array, got shape {arr.shape}")
    return arr


def avg_at_k(scores: np.ndarray) -> float:
    """Avg@k: the mean reward over all P·k samples (PCL Avg@4/@32, CurES Average@16; Pass@1 when k = 1).

    Args:
        scores: ``(P, k)`` rewards.
    Returns:
        mean of all entries.
    """
    return float(_check_matrix(scores).mean())


def pass_at_k_problem(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem with n samples, c of them correct (Chen et al. 2021, Codex, Eq. 1).

    pass@k = 1 − C(n−c, k) / C(n, k), computed as the stable product 1 − Π_{i=n−c+1}^{n} (1 − k/i), which avoids
    the huge binomials of the direct form.

    Args:
        n: samples drawn for the problem (n ≥ k ≥ 1).
        c: correct samples (0 ≤ c ≤ n).
        k: the k of pass@k.
    """
    if not 1 <= k <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n, got k={k}, n={n}")
    if not 0 <= c <= n:
        raise ValueError(f"correct count c={c} must lie in [0, n={n}]")
    if n - c < k:  # every k-subset contains a correct sample
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1, dtype=np.float64)))


def pass_at_k(scores: np.ndarray, k: int) -> float:
    """Mean over problems of the unbiased pass@k estimator; a reward counts as correct when it is ≥ 0.5.

    Args:
        scores: ``(P, n)`` rewards, n ≥ k samples per problem.
        k: the k of pass@k.
    """
    arr = _check_matrix(scores)
    n = arr.shape[1]
    correct = (arr >= 0.5).sum(axis=1)
    return float(np.mean([pass_at_k_problem(n, int(c), k) for c in correct]))


def sample_spread(scores: np.ndarray) -> dict[str, float | None]:
    """How much the score moves between samples.

    Args:
        scores: ``(P, k)`` rewards.
    Returns:
        ``std_over_samples``: std (ddof 1) over the k sample indices of the per-index mean score (the spread of k
        repeated single-sample evaluations; None when k = 1); ``per_problem_std``: mean over problems of the std
        (ddof 0) of that problem's k scores; ``stderr``: std (ddof 1) of the per-problem means / sqrt(P), the
        standard error of avg@k over problems (None when P = 1).
    """
    arr = _check_matrix(scores)
    n_problems, k = arr.shape
    per_index = arr.mean(axis=0)
    per_problem = arr.mean(axis=1)
    return {
        "std_over_samples": float(per_index.std(ddof=1)) if k > 1 else None,
        "per_problem_std": float(arr.std(axis=1, ddof=0).mean()),
        "stderr": float(per_problem.std(ddof=1) / math.sqrt(n_problems)) if n_problems > 1 else None,
    }


def pass_ks(n: int) -> list[int]:
    """The k values reported for n samples: 1, 2, 4, … below n, and n itself."""
    ks = [1 << i for i in range(n.bit_length()) if (1 << i) < n]
    return ks + [n]


def summarize_scores(scores: np.ndarray) -> dict[str, object]:
    """avg@k, pass@{1,2,4,…,k} and the spread of a ``(P, k)`` score array (see ``sample_spread``)."""
    arr = _check_matrix(scores)
    n_problems, k = arr.shape
    return {
        "k": k,
        "n_problems": n_problems,
        "avg_at_k": avg_at_k(arr),
        "pass_at_k": {str(j): pass_at_k(arr, j) for j in pass_ks(k)},
        **sample_spread(arr),
    }


def scores_matrix(records: Sequence[Mapping[str, object]]) -> tuple[list[int], np.ndarray]:
    """Arrange per-sample records ``{"index", "sample", "score", ...}`` as a ``(P, k)`` array.

    Returns the problem indices (sorted) and the matrix; every problem must have the same sample ids 0..k−1.
    """
    by_problem: dict[int, dict[int, float]] = {}
    for rec in records:
        idx, sample = int(rec["index"]), int(rec["sample"])
        slot = by_problem.setdefault(idx, {})
        if sample in slot:
            raise ValueError(f"duplicate record for problem index {idx}, sample {sample}")
        slot[sample] = float(rec["score"])
    if not by_problem:
        raise ValueError("no records to score")
    indices = sorted(by_problem)
    k = len(by_problem[indices[0]])
    for idx in indices:
        if sorted(by_problem[idx]) != list(range(k)):
            raise ValueError(f"problem index {idx} has samples {sorted(by_problem[idx])}, expected 0..{k - 1}")
    return indices, np.array([[by_problem[i][j] for j in range(k)] for i in indices], dtype=np.float64)


def paper_avg(values: Mapping[str, float | None], benchmarks: Sequence[str]) -> tuple[float | None, list[str]]:
    """The papers' Avg column: the unweighted mean over the suite's benchmarks (PCL Table 13, CurES Table 1).

    Returns ``(mean over the benchmarks present, missing benchmark names)``; the mean is None when none is present.
    A non-empty missing list means the Avg is incomplete and must be marked as such.
    """
    present = [float(values[b]) for b in benchmarks if values.get(b) is not None]
    missing = [b for b in benchmarks if values.get(b) is None]
    return (float(np.mean(present)) if present else None), missing
