"""CurES release stage 0 table (docs/cures.md, `cures_release`): k, σ and copies s per prompt of subset i.

k = correct of 4 rollouts (T = 1); per-rollout ‖∇_embed(−Σ_t log π)‖ split into correct / wrong (an empty class
counts as [0]); σ² from ``release_sigma_sq`` (CurES Eq. 21 as released), σ = sqrt(max(σ², 0)); s from
``shard_normalise`` over 8 contiguous shards with total 8192 per shard. The ``cures`` curriculum in release mode
reads index, k, sigma (``curriculum.params.release_table``) and recomputes s; ``s`` is written for inspection.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from verl_ext.curriculum.cures_release import release_sigma_sq, shard_normalise

__all__ = ["release_sigmas", "stage0_table"]


def release_sigmas(correct: np.ndarray, grad_norms: np.ndarray) -> np.ndarray:
    """σ_i per prompt from correctness (bool (P, R)) and per-rollout norms ((P, R), all finite); float64 (P,)."""
    c = np.asarray(correct, dtype=bool)
    g = np.asarray(grad_norms, dtype=np.float64)
    if g.shape != c.shape or not np.isfinite(g).all():
        raise ValueError(f"grad_norms must be finite with shape {c.shape} (every rollout's norm), got {g.shape}")
    rollouts = c.shape[1]
    sq = np.array([release_sigma_sq(int(ci.sum()), gi[ci], gi[~ci], rollouts) for ci, gi in zip(c, g)])
    return np.sqrt(np.maximum(sq, 0.0))  # σ² ≥ 0 analytically; clip float round-off


def stage0_table(
    index: np.ndarray, correct: np.ndarray, grad_norms: np.ndarray, shards: int = 8, total: int = 8192
) -> pd.DataFrame:
    """The release table: columns index, k, sigma, s (input order = shard order).

    Args:
        index: extra_info.index (P,). correct: bool (P, R). grad_norms: (P, R).
        shards, total: shard count and per-shard copy total of the released stage 0 (8, 8192).
    """
    c = np.asarray(correct, dtype=bool)
    sigma = release_sigmas(c, grad_norms)
    s = shard_normalise(sigma, shards, total)
    return pd.DataFrame({"index": np.asarray(index, dtype=np.int64), "k": c.sum(axis=1).astype(np.int64),
                         "sigma": sigma, "s": s})  # fmt: skip
