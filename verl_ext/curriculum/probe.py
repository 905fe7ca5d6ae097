"""``probe``: PCL's threshold-downsampling selector (arXiv 2510.01135 §3.2; docs/methods/probe.md).

No value model: draw k·m candidates, roll out ``probe_n`` responses each from the current policy, estimate
p̂ = mean reward, keep the m with smallest |p̂ − τ_p| (ties by candidate order, as :func:`pcl.select_closest`),
release every probe group and train on n **fresh** responses of the kept prompts.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from verl_ext.curriculum.base import Curriculum, CurriculumConfig, RolloutContext, register_curriculum
from verl_ext.curriculum.parts.estimators import probe_success
from verl_ext.curriculum.pcl import select_closest
from verl_ext.curriculum.sampler import PassSampling

__all__ = ["ProbeConfig", "ProbeCurriculum"]


@dataclasses.dataclass
class ProbeConfig(CurriculumConfig):
    """Probe options: ``k`` candidates per slot, ``probe_n`` probe responses each, target ``tau_p``."""

    k: int = 4
    probe_n: int = 4
    tau_p: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.k < 1:
            raise ValueError(f"curriculum.k={self.k} must be >= 1 (candidates = k·m)")
        if self.probe_n < 1:
            raise ValueError(f"curriculum.probe_n={self.probe_n} must be >= 1 (probe responses per candidate)")
        if not 0.0 <= self.tau_p <= 1.0:
            raise ValueError(f"curriculum.tau_p={self.tau_p} must lie in [0, 1] (target probe accuracy)")
        if self.max_gen_rounds < 2:
            raise ValueError(
                "the probe selector needs 2 generation rounds per step; set curriculum.max_gen_rounds >= 2"
            )


@register_curriculum("probe")
class ProbeCurriculum(PassSampling, Curriculum):
    """Probe k·m candidates, keep the m nearest τ_p, train on fresh responses."""

    config_class = ProbeConfig

    def __init__(self, config: ProbeConfig, num_prompts: int) -> None:
        super().__init__(config, num_prompts)
        self.config: ProbeConfig = config
        self.init_pass(num_prompts, config.seed, config.k * config.batch_size, "k·m candidates")
        self.last_probe: dict[int, float] = {}  # the kept prompts' probe p̂ of the last step (predicted success)

    def run_step(self, ctx: RolloutContext) -> dict[str, float]:
        """Probe, select, release the probes, submit fresh responses for the kept prompts and commit them."""
        cfg = self.config
        candidates = self.sampler.next(cfg.k * cfg.batch_size)
        p_hat, probes = probe_success(ctx, candidates, cfg.probe_n)  # the probe estimator of the composable parts
        keep = select_closest(p_hat, cfg.batch_size, cfg.tau_p)
        ctx.release(probes)  # probe responses never reach the policy batch
        kept = candidates[keep]
        self.last_probe = dict(zip(kept.tolist(), p_hat[keep].tolist(), strict=True))
        groups = ctx.submit(kept, cfg.n)
        ctx.commit(groups)
        return {
            "probe/reward_before": float(p_hat.mean()),
            "probe/reward_selected": float(p_hat[keep].mean()),
            "probe/candidates": float(candidates.size),
            "probe/dropped_at_pass_end": float(self.sampler.dropped_at_pass_end),
        }

    def predicted_success(self, indices: np.ndarray) -> np.ndarray:
        """The last step's probe p̂ of each index (the kept prompts; NaN for others), float64, shape ``(k,)``."""
        return np.array([self.last_probe.get(int(i), np.nan) for i in np.asarray(indices)], dtype=np.float64)
