"""Measurement-only reimplementation of the CurES released sampler (specs/cures.md §5, step 2).

Behaviour: the weights ``exp(sqrt(p̂(1−p̂))/(100(k+1)))`` (p̂ = (k+1)/6 from the stage-0 pilot) are computed once
per subset and normalised; every batch is ``numpy`` ``Generator.choice(P, 1024, replace=False, p=weights)``.
The released sampler never recomputes its probabilities within a subset, so its per-batch cost is the draw only.
Written from the spec for the benchmark in ``bench_cures_sampler.py``; not used in training.
"""

from __future__ import annotations

import numpy as np


class ReleasedSampler:
    """Frozen-weight draws of ``batch`` distinct prompts from a pool of ``len(k)``."""

    def __init__(self, k: np.ndarray, batch: int = 1024, seed: int = 0) -> None:
        kk = np.asarray(k, dtype=np.float64)
        p = (kk + 1.0) / 6.0
        w = np.exp(np.sqrt(p * (1.0 - p)) / (100.0 * (kk + 1.0)))
        self.probs = w / w.sum()
        self.batch = int(batch)
        self.rng = np.random.default_rng(seed)

    def next_batch(self) -> np.ndarray:
        """One batch of prompt positions, shape ``(batch,)``."""
        return self.rng.choice(self.probs.size, self.batch, replace=False, p=self.probs)
