"""Pieces shared by the online filters DS, SPEED and GRESO (PCL Algs. 4-5; docs/methods/ds.md, speed.md, greso.md).

* :func:`draw_fresh` serves ``ctx.next_prompts(k)``: k prompts of the pass permutation, never one already rolled
  out in this step (a new pass may start inside a step and would otherwise repeat a prompt).
* :func:`split_groups` sorts groups into informative (0 < p̂ < 1), all-correct (p̂ = 1) and all-wrong (p̂ = 0),
  with the binary-reward convention of :attr:`Group.successes` (reward > 0.5 counts as correct).
* :class:`RoundLog` counts a step's generation and builds the §0 "Bound" error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from verl_ext.curriculum.base import GenerationBudgetExceeded, Group, RolloutContext
from verl_ext.curriculum.sampler import PassSampler

__all__ = ["RoundLog", "draw_fresh", "split_groups"]


def draw_fresh(sampler: PassSampler, k: int, used: set[int]) -> np.ndarray:
    """The next ``k`` prompts of the pass permutation that are not in ``used``; adds them to ``used``.

    Prompts of a new pass that were already rolled out earlier in the same step are skipped (consumed from
    that pass), so one step never rolls a prompt out twice.

    Args:
        sampler: the curriculum's pass sampler.
        k: number of prompts wanted.
        used: dataset indices already rolled out in this step; updated in place.

    Returns:
        int64 array of shape ``(k,)``, distinct and disjoint from the old ``used``.

    Raises:
        GenerationBudgetExceeded: fewer than ``k`` prompts of the pool are left unused in this step.
    """
    available = sampler.num_prompts - len(used)
    if k > available:
        raise GenerationBudgetExceeded(
            f"the step needs {k} more fresh prompts but only {available} of the pool of {sampler.num_prompts} "
            "were not yet rolled out in this step; lower curriculum.k or the batch size, or use a larger dataset"
        )
    out: list[int] = []
    while len(out) < k:
        for idx in sampler.next(k - len(out)).tolist():
            if idx not in used:
                used.add(idx)
                out.append(idx)
    return np.asarray(out, dtype=np.int64)


def split_groups(groups: Sequence[Group]) -> tuple[list[Group], list[Group], list[Group]]:
    """Split groups with rewards into (informative, all-correct, all-wrong), keeping their order.

    Informative means 0 < p̂ < 1 with p̂ = successes / n (docs/methods/ds.md).
    """
    informative: list[Group] = []
    all_correct: list[Group] = []
    all_wrong: list[Group] = []
    for g in groups:
        if g.rewards is None or g.n == 0:
            raise ValueError(f"group {g.handle!r} (index {g.index}) has no rewards; use ctx.generate, not ctx.submit")
        s = g.successes
        if s == 0:
            all_wrong.append(g)
        elif s == g.n:
            all_correct.append(g)
        else:
            informative.append(g)
    return informative, all_correct, all_wrong


@dataclasses.dataclass
class RoundLog:
    """Generation counters of one step: what the §0 "Bound" error reports."""

    rounds: int = 0
    prompts: int = 0
    responses: int = 0
    all_correct: int = 0
    all_wrong: int = 0

    def add(self, groups: Sequence[Group], responses: int) -> tuple[list[Group], list[Group]]:
        """Count one batch of freshly generated groups; return (informative, zero-variance) groups."""
        informative, correct, wrong = split_groups(groups)
        self.prompts += len(groups)
        self.responses += int(responses)
        self.all_correct += len(correct)
        self.all_wrong += len(wrong)
        return informative, correct + wrong

    def enforce_bound(
        self, ctx: RolloutContext, held: Sequence[Group], method: str, max_rounds: int, kept: int, m: int, knob: str
    ) -> None:
        """The bound of every online filter: at ``max_rounds`` rounds, release the ``held`` groups (nothing of the
        step trains) and raise :meth:`error`, naming ``curriculum.max_gen_rounds`` and ``curriculum.<knob>``."""
        if self.rounds < max_rounds:
            return
        ctx.release(held)
        fix = f"Raise curriculum.max_gen_rounds or curriculum.{knob}, or check the reward function."
        raise self.error(method, ctx.step, kept, m, fix)

    def error(self, method: str, step: int, kept: int, m: int, fix: str) -> GenerationBudgetExceeded:
        """The bound error naming step, kept/m, rounds, prompts and responses used, zero-variance counts, fix."""
        return GenerationBudgetExceeded(
            f"{method}: step {step} kept only {kept}/{m} informative prompts after {self.rounds} generation "
            f"rounds ({self.prompts} prompts, {self.responses} responses; {self.all_correct} all-correct and "
            f"{self.all_wrong} all-wrong groups). {fix}"
        )
