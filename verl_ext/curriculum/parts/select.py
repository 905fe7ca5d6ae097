"""Selection rules of the composable curricula (docs/methods/composed.md): which m candidates a score keeps.

- :func:`select_topk_score`: the m largest scores (MoPPS's top-B, arXiv 2507.04632; PCL Alg. 1 line 4 with the
  ``distance`` score, arXiv 2510.01135);
- the ``softmax`` rule is CurES's successive sampling ∝ ρ* (:func:`verl_ext.curriculum.cures_online.draw_distinct`);
- the ``threshold`` rule is MoPPS's band (:func:`verl_ext.curriculum.mopps.select_threshold`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ORDERS", "select_topk_score"]

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
