"""SPEED-RL (arXiv 2506.09016; PCL arXiv 2510.01135 Alg. 5): screen, then continue qualifying prompts.

Each round screens k·m fresh prompts with n_init responses and, in the same round, continues the prompts
accepted in the previous round (0 < p̂_init < 1) with n − n_init more responses under the same handle
(``ctx.extend``: response numbering continues at n_init), so a trained group holds all n responses.

* ``mode="exact"`` (default): everything within the step and one policy. When the accepted buffer already
  covers what is missing, a flush round continues only those; the surplus is released.
* ``mode="pipelined"`` (the paper's implementation): no flush; the accepted buffer and the surplus of
  finished groups carry to the next step (trained there as if on-policy, oldest first); every step runs at
  least one round, so the carried accepted prompts are continued before they age out. Items older than
  ``max_staleness_steps`` are released. The carry is not checkpointed: a resume drops it and reports
  ``speed/carry_dropped_on_resume``.

A round's screening and continuation go to the engine together as one wave (``ctx.generate_and_extend``: both
batches are dispatched before the single wait), as SPEED's pipelined implementation batches the screening of the
next candidates with the continuation of the previous round's accepted prompts into one inference call. A round
is then as long as its slowest response once, not twice (``curriculum/gen_waves`` = rounds).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from verl_ext.curriculum.base import Curriculum, CurriculumConfig, Group, RolloutContext, register_curriculum
from verl_ext.curriculum.filtering import RoundLog, draw_fresh
from verl_ext.curriculum.sampler import PassSampling

__all__ = ["SpeedConfig", "SpeedCurriculum"]

_MODES = ("exact", "pipelined")


@dataclasses.dataclass
class SpeedConfig(CurriculumConfig):
    """SPEED hyper-parameters.

    Attributes:
        n_init: screening responses per prompt (PCL n_init ∈ {4, 8}; unknown winner → 4); must be < n.
        k: screening multiplier, k·m fresh prompts per round (PCL k ∈ {1, 2, 4} → 1).
        mode: ``exact`` (on-policy, resumable) or ``pipelined`` (paper rows; carries data across steps).
        max_staleness_steps: pipelined only; carried items older than this many steps are dropped.
    """

    n_init: int = 4
    k: int = 1
    mode: str = "exact"
    max_staleness_steps: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.n_init < self.n:
            raise ValueError(
                f"curriculum.n_init must satisfy 1 <= n_init < n (screening leaves n - n_init responses to continue), "
                f"got n_init={self.n_init}, n={self.n}; lower n_init or raise actor_rollout_ref.rollout.n"
            )
        if not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"curriculum.k must be an integer >= 1 (PCL used 1, 2 or 4), got {self.k!r}")
        if self.mode not in _MODES:
            raise ValueError(f"curriculum.mode must be one of {_MODES}, got {self.mode!r}")
        if self.max_staleness_steps < 0:
            raise ValueError(f"curriculum.max_staleness_steps must be >= 0, got {self.max_staleness_steps}")


@dataclasses.dataclass
class _Item:
    """A group in flight: screened at step ``born``, continued at step ``cont_step`` (None: not yet)."""

    group: Group
    born: int
    cont_step: int | None = None


@register_curriculum("speed")
class SpeedCurriculum(PassSampling, Curriculum):
    """SPEED selector (screen n_init, continue 0 < p̂_init < 1 to n, train m complete groups)."""

    config_class = SpeedConfig

    def __init__(self, config: SpeedConfig, num_prompts: int) -> None:
        super().__init__(config, num_prompts)
        self.config: SpeedConfig = config
        self.init_pass(num_prompts, config.seed, config.k * config.batch_size, "a SPEED round: k·m screened")
        self._acc: list[_Item] = []  # pipelined carry: accepted, awaiting continuation
        self._done: list[_Item] = []  # pipelined carry: finished surplus
        self._carry_dropped_on_resume = 0

    # ------------------------------------------------------------------ step
    def run_step(self, ctx: RolloutContext) -> dict[str, float]:
        """Screen and continue until ≥ m finished groups; commit m (exact: random m; pipelined: oldest m).

        Raises:
            GenerationBudgetExceeded: more than ``max_gen_rounds`` rounds in the step.
        """
        cfg, m, step = self.config, self.config.batch_size, ctx.step
        acc, done, dropped = self._take_carry(ctx)
        log, used = RoundLog(), {it.group.index for it in acc + done}
        counts = dict.fromkeys(("screened", "accepted", "continued", "flush_rounds", "cont_responses"), 0)
        # At least one round per step: the pipelined carry must be continued before it ages out.
        while len(done) < m or log.rounds == 0:
            log.enforce_bound(ctx, [it.group for it in acc + done], "speed", cfg.max_gen_rounds, len(done), m, knob="k")
            log.rounds += 1
            need = m - len(done)
            if cfg.mode == "exact" and len(acc) >= need:  # flush: continue only what is missing
                done += self._continue(ctx, acc[:need], step, counts)
                counts["flush_rounds"] += 1
                acc = acc[need:]
                break
            fresh = draw_fresh(self.sampler, cfg.k * m, used)
            # one wave: screening of the fresh candidates and continuation of the accepted ones
            screen, continued = ctx.generate_and_extend(fresh, cfg.n_init, [it.group for it in acc], self._n_more)
            done += self._finished(acc, continued, step, counts)
            informative, rest = log.add(screen, len(screen) * cfg.n_init)
            ctx.release(rest)
            acc = [_Item(g, step) for g in informative]
            counts["screened"] += len(screen)
            counts["accepted"] += len(informative)
        trained, surplus = self._choose(done, m)
        if cfg.mode == "exact":
            ctx.release([it.group for it in surplus + acc])
            self._acc, self._done = [], []
        else:
            self._acc, self._done = acc, surplus
        ctx.commit([it.group for it in trained])
        return self._metrics(log, counts, trained, dropped, step)

    def _take_carry(self, ctx: RolloutContext) -> tuple[list[_Item], list[_Item], int]:
        """Pipelined carry minus over-age items (released); empty in exact mode."""
        limit = self.config.max_staleness_steps
        acc = [it for it in self._acc if ctx.step - it.born <= limit]
        done = [it for it in self._done if ctx.step - it.born <= limit]
        old = [it.group for it in self._acc + self._done if ctx.step - it.born > limit]
        if old:
            ctx.release(old)
        self._acc, self._done = [], []
        return acc, done, len(old)

    @property
    def _n_more(self) -> int:
        """Continuation responses per accepted prompt, n − n_init."""
        return self.config.n - self.config.n_init

    def _continue(self, ctx: RolloutContext, items: list[_Item], step: int, counts: dict[str, int]) -> list[_Item]:
        """Add n − n_init responses to accepted groups (same handle) in a wave of their own (flush round)."""
        if not items:
            return []
        return self._finished(items, ctx.extend([it.group for it in items], self._n_more), step, counts)

    def _finished(self, items: list[_Item], groups: Sequence[Group], step: int, counts: dict[str, int]) -> list[_Item]:
        """Continued groups as finished items (continued at ``step``); counts the continuation."""
        counts["continued"] += len(items)
        counts["cont_responses"] += len(items) * self._n_more
        return [_Item(g, it.born, step) for g, it in zip(groups, items, strict=True)]

    def _choose(self, done: list[_Item], m: int) -> tuple[list[_Item], list[_Item]]:
        """Exact: m at random (rng); pipelined: the m oldest (carried first), to limit staleness drops."""
        if self.config.mode == "pipelined":
            return done[:m], done[m:]
        chosen = np.zeros(len(done), dtype=bool)
        chosen[self.rng.choice(len(done), size=m, replace=False)] = True
        return [it for it, c in zip(done, chosen) if c], [it for it, c in zip(done, chosen) if not c]

    def _stale_responses(self, item: _Item, step: int) -> int:
        """Responses of a trained group generated before ``step`` (pipelined carry; always 0 in exact mode)."""
        n_init, n_cont = self.config.n_init, self.config.n - self.config.n_init
        cont_step = step if item.cont_step is None else item.cont_step
        return (n_init if item.born < step else 0) + (n_cont if cont_step < step else 0)

    def _metrics(
        self, log: RoundLog, counts: Mapping[str, int], trained: list[_Item], dropped: int, step: int
    ) -> dict[str, float]:
        total = len(trained) * self.config.n
        stale_responses = sum(self._stale_responses(it, step) for it in trained)
        metrics = {
            "speed/rounds": float(log.rounds),  # generation waves of this step (screening and continuation fused)
            "speed/screened": float(counts["screened"]),
            "speed/accept_rate": counts["accepted"] / counts["screened"] if counts["screened"] else 0.0,
            "speed/continued": float(counts["continued"]),
            "speed/flush_rounds": float(counts["flush_rounds"]),
            "speed/responses_screen": float(counts["screened"] * self.config.n_init),
            "speed/responses_cont": float(counts["cont_responses"]),
            "speed/carry_size": float(len(self._acc) + len(self._done)),
            "speed/stale_response_frac": stale_responses / total,
            "speed/stale_dropped": float(dropped),
            "speed/carry_dropped_on_resume": float(self._carry_dropped_on_resume),
        }
        self._carry_dropped_on_resume = 0
        return metrics

    # ------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict[str, Any]:
        """RNG and pass sampler. The pipelined carry is not saved (its groups live in the trainer's step
        buffers); only its size, reported after a resume as ``speed/carry_dropped_on_resume``."""
        return {
            **self.pass_state(),
            "carry_size": len(self._acc) + len(self._done),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.load_pass_state(state)
        self._acc, self._done = [], []
        self._carry_dropped_on_resume = int(state["carry_size"])
