"""Selection rules of the composable curricula (docs/methods/composed.md): which m candidates a score keeps.

- :func:`select_topk_score`: the m largest scores (MoPPS's top-B, arXiv 2507.04632; PCL Alg. 1 line 4 with the
  ``distance`` score, arXiv 2510.01135);
- the ``softmax`` rule is CurES's successive sampling ∝ ρ* (:func:`verl_ext.curriculum.cures_online.draw_distinct`);
- :func:`select_band`: MoPPS's ``threshold`` rule, m drawn uniformly among p̂ ∈ [lo, hi], a shortfall filled by the
  best scores (MoPPS fills by closeness to its target, the ``distance`` score).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ORDERS", "select_band", "select_topk_score"]

ORDERS = ("candidate", "rank")


def select_topk_score(score: np.ndarray, m: int, order: str) -> np.ndarray:
    """Positions of the m largest scores (ties: lower position first); ``rank`` lists them best first, ``candidate``
    in ascending position. int64, shape ``(m,)``."""
    s = np.asarray(score, dtype=np.float64)
    if not 0 < m <= s.size:
        raise ValueError(f"cannot keep m={m} of {s.size} candidates")
    if order not in ORDERS:
        raise ValueError(f"order={order!r} is unknown; valid: {', '.join(ORDERS)}")
    top = np.argsort(-s, kind="stable")[:m].astype(np.int64)
    return top if order == "rank" else np.sort(top)


def select_band(
    p: np.ndarray, m: int, lo: float, hi: float, score: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """m positions drawn uniformly without replacement among p ∈ [lo, hi] (ascending); if fewer qualify, all of them
    followed by the others of largest ``score`` (ties: lower position).

    Returns:
        ``(positions (m,), shortfall)``, shortfall = max(0, m − #qualifying), the number filled by score.
    """
    q = np.asarray(p, dtype=np.float64)
    if not 0 < m <= q.size:
        raise ValueError(f"cannot keep m={m} of {q.size} candidates")
    band = (q >= lo) & (q <= hi)
    inside = np.flatnonzero(band)
    if inside.size >= m:
        return np.sort(rng.choice(inside, size=m, replace=False)).astype(np.int64), 0
    outside = np.flatnonzero(~band)
    fill = outside[np.argsort(-np.asarray(score, dtype=np.float64)[outside], kind="stable")[: m - inside.size]]
    return np.concatenate([inside, fill]).astype(np.int64), int(m - inside.size)
