"""Dynamic Sampling (DAPO, arXiv 2503.14476) as PCL ran it (PCL Alg. 4; docs/methods/ds.md).

Each round rolls out k·m fresh prompts × n responses, keeps the informative groups (0 < p̂ < 1) and releases
the rest, until at least m are kept; m of the kept groups are chosen at random and trained, the surplus is
discarded. Whole k·m rounds are PCL's DS cost.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from verl_ext.curriculum.base import Curriculum, CurriculumConfig, Group, RolloutContext, register_curriculum
from verl_ext.curriculum.filtering import RoundLog, draw_fresh
from verl_ext.curriculum.sampler import PassSampling

__all__ = ["DSConfig", "DynamicSamplingCurriculum"]

_COUNTERS = ("rounds", "candidates", "kept", "surplus_discarded", "all_correct", "all_wrong")


@dataclasses.dataclass
class DSConfig(CurriculumConfig):
    """DS hyper-parameters.

    Attributes:
        k: candidate multiplier; each round rolls out k·m prompts (PCL tuned k ∈ {1, 2, 4}; unknown winner → 2).
    """

    k: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"curriculum.k must be an integer >= 1 (PCL used 1, 2 or 4), got {self.k!r}")


@register_curriculum("ds")
class DynamicSamplingCurriculum(PassSampling, Curriculum):
    """DS selector: m informative groups per step out of whole rounds of k·m candidates (PCL Alg. 4)."""

    config_class = DSConfig

    def __init__(self, config: DSConfig, num_prompts: int) -> None:
        super().__init__(config, num_prompts)
        self.config: DSConfig = config
        self.init_pass(num_prompts, config.seed, config.k * config.batch_size, "a DS round: k·m candidates")
        self.totals = dict.fromkeys(_COUNTERS, 0)

    def run_step(self, ctx: RolloutContext) -> dict[str, float]:
        """Generate rounds of k·m × n until ≥ m informative groups, commit m of them (Alg. 4).

        Raises:
            GenerationBudgetExceeded: more than ``max_gen_rounds`` rounds (or the pool ran out within the step).
        """
        cfg = self.config
        m = cfg.batch_size
        log = RoundLog()
        used: set[int] = set()
        kept: list[Group] = []
        while len(kept) < m:
            log.enforce_bound(ctx, kept, "ds", cfg.max_gen_rounds, len(kept), m, knob="k")
            candidates = draw_fresh(self.sampler, cfg.k * m, used)
            groups = ctx.generate(candidates, cfg.n)
            log.rounds += 1
            informative, rest = log.add(groups, len(groups) * cfg.n)
            ctx.release(rest)
            kept.extend(informative)
        chosen = np.sort(self.rng.choice(len(kept), size=m, replace=False))
        mask = np.zeros(len(kept), dtype=bool)
        mask[chosen] = True
        ctx.release([g for g, c in zip(kept, mask) if not c])
        ctx.commit([g for g, c in zip(kept, mask) if c])
        step = {
            "rounds": log.rounds,
            "candidates": log.prompts,
            "kept": len(kept),
            "surplus_discarded": len(kept) - m,
            "all_correct": log.all_correct,
            "all_wrong": log.all_wrong,
        }
        for key, value in step.items():
            self.totals[key] += value
        return {f"ds/{key}": float(value) for key, value in step.items()}

    def state_dict(self) -> dict[str, Any]:
        """RNG, pass sampler and cumulative counters."""
        return {**self.pass_state(), "totals": dict(self.totals)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.load_pass_state(state)
        self.totals = {key: int(state["totals"][key]) for key in _COUNTERS}
