"""A vectorised sum tree over non-negative weights: exact partial updates and O(k log P) weighted draws.

Used by CurES's paper mode (CurES Eq. 14 and the draw; docs/cures.md): per step only the ~m prompts whose posterior
changed get new weights, so refreshing the whole pool (exp/sqrt over 10^6 prompts) every step is avoided.
Internal nodes are always recomputed as the exact sum of their two children (no delta updates), so after any
sequence of updates the tree is bit-identical to one rebuilt from the same leaves.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SumTree"]


class SumTree:
    """Perfect binary tree with ``2**depth >= size`` leaves (padding leaves are 0).

    ``levels[0]`` is the root (shape ``(1,)``), ``levels[-1]`` the leaves (shape ``(2**depth,)``).
    """

    def __init__(self, weights: np.ndarray) -> None:
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or w.size == 0:
            raise ValueError(f"weights must be a non-empty 1-D array, got shape {w.shape}")
        self.size = int(w.size)
        self.depth = max(0, int(np.ceil(np.log2(self.size))))
        self.levels: list[np.ndarray] = []
        self.rebuild(w)

    def rebuild(self, weights: np.ndarray) -> None:
        """Replace every leaf and recompute all internal sums, O(P)."""
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (self.size,):
            raise ValueError(f"expected {self.size} weights, got shape {w.shape}")
        if np.any(w < 0) or not np.all(np.isfinite(w)):
            raise ValueError("sum-tree weights must be finite and >= 0")
        leaves = np.zeros(1 << self.depth, dtype=np.float64)
        leaves[: self.size] = w
        levels = [leaves]
        while levels[-1].size > 1:
            child = levels[-1]
            levels.append(child[0::2] + child[1::2])
        self.levels = levels[::-1]

    @property
    def total(self) -> float:
        """Sum of all weights."""
        return float(self.levels[0][0])

    @property
    def leaves(self) -> np.ndarray:
        """The weights, shape ``(P,)`` (a view; do not modify)."""
        return self.levels[-1][: self.size]

    def update(self, positions: np.ndarray, weights: np.ndarray) -> None:
        """Set ``leaves[positions] = weights`` and recompute the affected ancestors, O(k log P).

        Repeated positions: the last value wins (numpy fancy assignment).
        """
        pos = np.asarray(positions, dtype=np.int64)
        if pos.size == 0:
            return
        self.levels[-1][pos] = weights
        nodes = np.unique(pos)
        for level in range(self.depth - 1, -1, -1):
            nodes = np.unique(nodes >> 1)
            child = self.levels[level + 1]
            self.levels[level][nodes] = child[2 * nodes] + child[2 * nodes + 1]

    def find(self, targets: np.ndarray) -> np.ndarray:
        """Leaf position of each cumulative-weight target in ``[0, total)``, shape ``(k,)`` (vectorised descent).

        A target that float rounding pushes past the last positive leaf may land on a zero-weight leaf; callers
        drawing samples discard such hits.
        """
        u = np.asarray(targets, dtype=np.float64).copy()
        node = np.zeros(u.shape, dtype=np.int64)
        for level in range(1, self.depth + 1):
            left = 2 * node
            left_sum = self.levels[level][left]
            go_right = u >= left_sum
            u -= np.where(go_right, left_sum, 0.0)
            node = left + go_right
        return np.minimum(node, self.size - 1)

    def sample(self, k: int, rng: np.random.Generator) -> np.ndarray:
        """``k`` i.i.d. draws ∝ weight, shape ``(k,)``; hits on zero-weight leaves (rounding) are dropped."""
        if self.total <= 0:
            raise ValueError("cannot sample from a sum tree whose weights are all zero")
        idx = self.find(rng.random(k) * self.total)
        return idx[self.leaves[idx] > 0]
