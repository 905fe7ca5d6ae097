"""The skip schedule of Nested-ReFT: which decoder layers the behaviour model mu_S skips at each step.

mu_S is the policy pi_theta with every decoder layer l in S replaced by the residual identity (h_{l+1} = h_l). Each
step draws S from the layers that may be skipped, {k_first, ..., L - 1 - k_last}, with |S| = round(r * L) (capped by
the allowed count), either as a uniform random subset or as one contiguous block at a uniform random start. The
schedule owns its RNG (seeded, saved in checkpoints) so a resumed run draws the same sets as an uninterrupted one.
r = 0 gives S = {} at every step: ordinary on-policy training. With ``full_every = k`` every k-th step uses S = {}.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["MODES", "SkipSchedule", "SkipScheduleConfig"]

MODES = ("random", "contiguous")


@dataclasses.dataclass
class SkipScheduleConfig:
    """``nested.schedule``: skip ratio r, protected first/last layers, draw mode, seed."""

    skip_ratio: float = 0.0
    protect_first: int = 1
    protect_last: int = 1
    mode: str = "random"
    seed: int = 1
    # every k-th step generates with the full model (S = {}); 0 = never. Needed by curriculum_feedback=full_model_only
    full_every: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.skip_ratio) < 1.0:
            raise ValueError(f"nested.schedule.skip_ratio must be in [0, 1), got {self.skip_ratio}")
        if self.protect_first < 1:
            # layer 0 receives the embeddings (and, in vLLM, residual=None); the cache length is read from it
            raise ValueError(
                f"nested.schedule.protect_first must be >= 1 (layer 0 is never skipped), got {self.protect_first}"
            )
        if self.protect_last < 0:
            raise ValueError(f"nested.schedule.protect_last must be >= 0, got {self.protect_last}")
        if self.full_every < 0:
            raise ValueError(f"nested.schedule.full_every must be >= 0 (0 = never), got {self.full_every}")
        if self.mode not in MODES:
            raise ValueError(f"nested.schedule.mode={self.mode!r}; valid: {', '.join(MODES)}")


class SkipSchedule:
    """Draws S_t per step (``draw``); ``state_dict``/``load_state_dict`` carry the RNG bit-exactly."""

    def __init__(self, config: SkipScheduleConfig, num_layers: int) -> None:
        self.config = config
        self.num_layers = int(num_layers)
        lo, hi = config.protect_first, self.num_layers - config.protect_last
        if hi - lo < 0:
            raise ValueError(
                f"nested.schedule protects {config.protect_first} first + {config.protect_last} last layers but the "
                f"model has only {self.num_layers} decoder layers"
            )
        self.allowed = np.arange(lo, hi, dtype=np.int64)
        self.size = min(int(round(float(config.skip_ratio) * self.num_layers)), len(self.allowed))
        if config.skip_ratio > 0 and self.size == 0:
            raise ValueError(
                f"nested.schedule.skip_ratio={config.skip_ratio} skips no layer of {self.num_layers} "
                f"({len(self.allowed)} allowed): raise the ratio or lower protect_first/protect_last"
            )
        self.rng = np.random.default_rng(config.seed)
        self.draws = 0

    def draw(self) -> list[int]:
        """S for the next step, sorted layer indices (empty when r = 0)."""
        self.draws += 1
        full = self.config.full_every > 0 and self.draws % self.config.full_every == 0
        if self.size == 0 or full:
            return []
        if self.config.mode == "random":
            chosen = self.rng.choice(self.allowed, size=self.size, replace=False)
        else:
            start = int(self.rng.integers(0, len(self.allowed) - self.size + 1))
            chosen = self.allowed[start : start + self.size]
        return sorted(int(x) for x in chosen)

    def state_dict(self) -> dict[str, Any]:
        return {
            "rng": self.rng.bit_generator.state,
            "draws": self.draws,
            "num_layers": self.num_layers,
            "config": dataclasses.asdict(self.config),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state["config"]
        if saved != dataclasses.asdict(self.config) or int(state["num_layers"]) != self.num_layers:
            raise ValueError(
                f"nested checkpoint was written with schedule {saved} over {state['num_layers']} layers; this run has "
                f"{dataclasses.asdict(self.config)} over {self.num_layers}: resume with the same nested.schedule"
            )
        self.rng.bit_generator.state = state["rng"]
        self.draws = int(state["draws"])
