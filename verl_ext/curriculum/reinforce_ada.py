"""Reinforce-Ada (arXiv 2510.04996; docs/methods/reinforce_ada.md): adaptive sampling in rounds, then a balanced group.

Each step takes the next m prompts of a seeded pass and samples them in rounds (the paper's Algorithm 1, successive
elimination): every still-active prompt gets ``round_n`` more responses (round 1: ``ctx.generate``; later rounds:
``ctx.extend``, so all of a prompt's responses stay in one group), until it meets its exit condition

* ``balanced``:          #positives ≥ ⌊n/2⌋ and #negatives ≥ ⌈n/2⌉  (Reinforce-Ada-balance),
* ``positive_focused``:  #positives ≥ 1                              (Reinforce-Ada-pos),

or ``max_rounds`` rounds have run. Each group is then down-sampled to (at most) n responses (:func:`keep_counts`):

* finished groups, and every group in ``balanced`` mode: k⁺ = min(⌊n/2⌋, P) positives and k⁻ = min(n − k⁺, N)
  negatives; a shortfall is filled from the positives if any are left, else from the negatives;
* unfinished groups in ``positive_focused`` mode: k⁺ = max(min(⌈P/(P+N)·n⌉, t − 1), 1) with t = min(n, P + N), the
  rest negatives, filled the same way.

The earliest generated responses of each kind are kept (the authors' code keeps its per-prompt caches in generation
order). Unfinished prompts are trained too (all-wrong or all-right groups give a zero GRPO advantage), as in the
authors' code. The dropped responses are removed through the context's ``trim`` capability before the commit.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from verl_ext.curriculum.base import Curriculum, CurriculumConfig, Group, RolloutContext, register_curriculum
from verl_ext.curriculum.sampler import PassSampling

__all__ = ["MODES", "ReinforceAdaCurriculum", "ReinforceAdaConfig", "is_finished", "keep_counts", "keep_positions"]

MODES = ("balanced", "positive_focused")
_COUNTERS = ("rounds", "finished", "unfinished", "responses", "kept", "dropped")


def is_finished(positives: int, negatives: int, n: int, mode: str) -> bool:
    """The exit condition: balanced ⌊n/2⌋ positives and ⌈n/2⌉ negatives, or positive-focused one positive."""
    if mode == "balanced":
        return positives >= n // 2 and negatives >= n - n // 2
    if mode == "positive_focused":
        return positives >= 1
    raise ValueError(f"curriculum.params.mode={mode!r} is invalid; use one of {MODES}")


def keep_counts(positives: int, negatives: int, n: int, mode: str, finished: bool) -> tuple[int, int]:
    """(k⁺, k⁻): how many positives and negatives of a group to train (module docstring); k⁺ + k⁻ = min(n, P + N)."""
    take = min(n, positives + negatives)
    if finished or mode == "balanced":
        want_pos, want_neg = n // 2, n - n // 2
    else:
        ratio = positives / (positives + negatives) if positives + negatives else 0.0
        want_pos = max(min(math.ceil(ratio * n), take - 1), 1)
        want_neg = take - want_pos
    k_pos, k_neg = min(positives, want_pos), min(negatives, want_neg)
    short = take - k_pos - k_neg
    if short > 0 and positives > k_pos:
        k_pos += min(positives - k_pos, short)
    elif short > 0 and negatives > k_neg:
        k_neg += min(negatives - k_neg, short)
    return k_pos, k_neg


def keep_positions(rewards: np.ndarray, n: int, mode: str, finished: bool) -> np.ndarray:
    """Sorted positions of the responses to keep: the first k⁺ positives (reward > 0.5) and the first k⁻ negatives."""
    r = np.asarray(rewards, dtype=np.float64)
    pos, neg = np.flatnonzero(r > 0.5), np.flatnonzero(r <= 0.5)
    k_pos, k_neg = keep_counts(pos.size, neg.size, n, mode, finished)
    return np.sort(np.concatenate([pos[:k_pos], neg[:k_neg]])).astype(np.int64)


@dataclasses.dataclass
class ReinforceAdaConfig(CurriculumConfig):
    """Reinforce-Ada options.

    Attributes:
        mode: ``balanced`` (Reinforce-Ada-balance) or ``positive_focused`` (Reinforce-Ada-pos).
        round_n: responses per active prompt per round (null: n).
        max_rounds: most rounds per step (≤ curriculum.max_gen_rounds).
    """

    mode: str = "balanced"
    round_n: int | None = None
    max_rounds: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode not in MODES:
            raise ValueError(f"curriculum.params.mode={self.mode!r} is invalid; use one of {MODES}")
        if self.round_n is None:
            self.round_n = self.n
        if not isinstance(self.round_n, int) or self.round_n < 2:
            raise ValueError(
                f"curriculum.params.round_n must be an integer >= 2 (a trained group needs two responses), "
                f"got {self.round_n!r}"
            )
        if not isinstance(self.max_rounds, int) or not 1 <= self.max_rounds <= self.max_gen_rounds:
            raise ValueError(
                f"curriculum.params.max_rounds must be an integer in [1, curriculum.max_gen_rounds="
                f"{self.max_gen_rounds}], got {self.max_rounds!r}"
            )
        if self.round_n * self.max_rounds < self.n:
            raise ValueError(
                f"curriculum.params.round_n·max_rounds = {self.round_n * self.max_rounds} < n = {self.n}: no prompt "
                "could collect the n responses it is down-sampled to; raise round_n or max_rounds"
            )


@register_curriculum("reinforce_ada")
class ReinforceAdaCurriculum(PassSampling, Curriculum):
    """Reinforce-Ada: rounds of ``round_n`` responses per active prompt, then balanced down-sampling to n."""

    config_class = ReinforceAdaConfig

    def __init__(self, config: ReinforceAdaConfig, num_prompts: int) -> None:
        super().__init__(config, num_prompts)
        self.config: ReinforceAdaConfig = config
        self.init_pass(num_prompts, config.seed, config.batch_size, "data.train_batch_size")
        self.totals = dict.fromkeys(_COUNTERS, 0)

    def run_step(self, ctx: RolloutContext) -> dict[str, float]:
        """Sample the next m prompts in rounds until each exits (or ``max_rounds``), down-sample, commit all m."""
        cfg = self.config
        assert cfg.round_n is not None  # set by the config
        trim = getattr(ctx, "trim", None)
        if trim is None:
            raise NotImplementedError(
                "reinforce_ada down-samples groups to n responses and needs the rollout context's trim capability "
                f"({type(ctx).__name__} has none)"
            )
        indices = self.sampler.next(cfg.batch_size)
        groups = ctx.generate(indices, cfg.round_n)
        rounds, active_per_round = 1, [len(groups)]
        done = [self._finished(g) for g in groups]
        while not all(done) and rounds < cfg.max_rounds:
            active = [j for j, d in enumerate(done) if not d]
            extended = ctx.extend([groups[j] for j in active], cfg.round_n)
            for j, g in zip(active, extended, strict=True):
                groups[j], done[j] = g, self._finished(g)
            rounds += 1
            active_per_round.append(len(active))
        keeps = [keep_positions(np.asarray(g.rewards), cfg.n, cfg.mode, d) for g, d in zip(groups, done, strict=True)]
        cut = [j for j, (g, k) in enumerate(zip(groups, keeps, strict=True)) if k.size < g.n]
        if cut:
            for j, g in zip(cut, trim([groups[j] for j in cut], [keeps[j] for j in cut]), strict=True):
                groups[j] = g
        ctx.commit(groups)
        responses = cfg.round_n * sum(active_per_round)
        kept = int(sum(k.size for k in keeps))
        step = {
            "rounds": rounds,
            "finished": int(sum(done)),
            "unfinished": len(done) - int(sum(done)),
            "responses": responses,
            "kept": kept,
            "dropped": responses - kept,
        }
        for key, value in step.items():
            self.totals[key] += value
        metrics = {f"reinforce_ada/{key}": float(value) for key, value in step.items()}
        for r, a in enumerate(active_per_round, start=1):
            metrics[f"reinforce_ada/active_round_{r}"] = float(a)
        return metrics

    def _finished(self, group: Group) -> bool:
        s = group.successes
        return is_finished(s, group.n - s, self.config.n, self.config.mode)

    def state_dict(self) -> dict[str, Any]:
        """RNG, pass sampler and cumulative counters."""
        return {**self.pass_state(), "totals": dict(self.totals)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.load_pass_state(state)
        self.totals = {key: int(state["totals"][key]) for key in _COUNTERS}
