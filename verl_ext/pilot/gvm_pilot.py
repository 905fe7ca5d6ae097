"""GVM pilot table (arXiv 2505.02391; docs/methods/gvm.md): p, G, w, n per prompt of subset D_i.

p_x = #correct / K; G_x = mean over x's correct responses of ‖∇_embed(−Σ_t log π(y_t|x, y_<t))‖₂ (0 if none
correct); w_x and n_x from ``verl_ext.curriculum.gvm`` with budget N = K·|D_i|. The ``gvm`` curriculum reads the
table (``curriculum.params.pilot_path``) and uses its ``n`` column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from verl_ext.curriculum.gvm import allocate_rollouts, gvm_weights

__all__ = ["gvm_table", "mean_correct_norm"]


def mean_correct_norm(grad_norms: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """G_x = mean of grad_norms over correct responses, 0 where none is correct.

    Args:
        grad_norms: (P, K), NaN allowed where not correct. correct: bool (P, K).
    Returns:
        float64 (P,).
    """
    c = np.asarray(correct, dtype=bool)
    g = np.where(c, np.asarray(grad_norms, dtype=np.float64), 0.0)
    if np.isnan(g).any():
        raise ValueError("a correct response has no gradient norm (NaN); compute norms for every correct rollout")
    count = c.sum(axis=1)
    return np.divide(g.sum(axis=1), count, out=np.zeros(len(count)), where=count > 0)


def gvm_table(
    index: np.ndarray, correct: np.ndarray, grad_norms: np.ndarray, alpha: float = 1e-3, beta: float = 2.0
) -> pd.DataFrame:
    """The pilot table: columns index, p, G, w, n (one row per prompt, input order).

    Args:
        index: extra_info.index, (P,). correct: bool (P, K). grad_norms: (P, K) (only correct entries are read).
        alpha, beta: GVM weight regulariser (1e-3, 2).
    """
    c = np.asarray(correct, dtype=bool)
    k = c.shape[1]
    p = c.sum(axis=1) / k
    g = mean_correct_norm(grad_norms, c)
    w = gvm_weights(g, p, alpha, beta)
    n = allocate_rollouts(g, p, k * c.shape[0], alpha, beta)
    return pd.DataFrame({"index": np.asarray(index, dtype=np.int64), "p": p, "G": g, "w": w, "n": n})
