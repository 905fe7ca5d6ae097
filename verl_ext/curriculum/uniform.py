"""``uniform``: plain GRPO / REINFORCE++ batches (no curriculum).

Each step trains the next m prompts of a seeded per-pass permutation with n responses each
(docs/methods/grpo.md; "GRPO = the same sampler with k=1 and no scoring", docs/pcl.md).
Also hosts :func:`group_counts` (per-group index, responses and successes), shared by the posterior updates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from verl_ext.curriculum.base import Curriculum, CurriculumConfig, Group, RolloutContext, register_curriculum
from verl_ext.curriculum.sampler import PassSampling

__all__ = ["UniformConfig", "UniformCurriculum", "group_counts"]


def group_counts(groups: Sequence[Group]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-group ``(index, n, successes)`` as int64 arrays, shape ``(k,)``, for groups with rewards.

    Vectorised over one concatenation (a Python loop over 10^3 small arrays costs milliseconds).
    Success = reward > 0.5 (binary reward convention).
    """
    scored = [g for g in groups if g.rewards is not None and len(g.rewards) > 0]
    if not scored:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy()
    idx = np.fromiter((g.index for g in scored), dtype=np.int64, count=len(scored))
    n = np.fromiter((len(g.rewards) for g in scored), dtype=np.int64, count=len(scored))
    hits = np.concatenate([np.asarray(g.rewards) for g in scored]) > 0.5
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    s = np.add.reduceat(hits.astype(np.int64), starts)
    return idx, n, s


@dataclasses.dataclass
class UniformConfig(CurriculumConfig):
    """No extra fields: m = ``batch_size`` prompts, ``n`` responses each, permutation seeded by ``seed``."""


@register_curriculum("uniform")
class UniformCurriculum(PassSampling, Curriculum):
    """Next m prompts of the pass permutation, n responses each, all trained."""

    config_class = UniformConfig
    selects_prompts = False  # plain batches: verl's DAPO group filter (algorithm.filter_groups) may run on them

    def __init__(self, config: UniformConfig, num_prompts: int) -> None:
        super().__init__(config, num_prompts)
        self.init_pass(num_prompts, config.seed, config.batch_size, "data.train_batch_size")

    def run_step(self, ctx: RolloutContext) -> dict[str, float]:
        """Submit the next m prompts with n responses each and commit them all."""
        indices = self.sampler.next(self.config.batch_size)
        groups = ctx.submit(indices, self.config.n)
        ctx.commit(groups)
        return {}
