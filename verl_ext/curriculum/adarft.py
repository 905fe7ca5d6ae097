"""AdaRFT (Adaptive Curriculum Reinforcement Finetuning, arXiv 2504.05520; docs/methods/adarft.md).

Every prompt x has a fixed difficulty d_x on a 0–100 scale. The curriculum keeps a target difficulty T and, each
step (the paper's Algorithm 1):

1. takes the m prompts with the smallest |d_x − T| (ties broken by a seeded random order, so equal-difficulty
   prompts rotate instead of repeating the same rows);
2. trains them with n responses each and measures the batch's mean reward R̄;
3. moves the target:  T ← clip(T + η·tanh(α·(R̄ − β)), lo, hi)  (paper: η = 50, α = 2, β = 0.5, on 0–100).

The difficulty comes from the data (``difficulty_file``, in the config group the run's own ``data.train_files``):
``difficulty_key`` names a column or an ``extra_info`` key (``extra_info.difficulty``), ``difficulty_index_key``
the column holding each row's training index, and ``difficulty_transform`` maps the raw value to 0–100:
``identity`` (already 0–100), ``minmax`` (linear, min → 0, max → 100: the synthetic task's levels 0..7),
``math_level`` (MATH's ``Level 1``..``Level 5`` → 0, 25, 50, 75, 100) or ``pass_rate`` (a precomputed success
rate p → 100·(1 − p), as the paper estimates difficulty; e.g. the pre-filter pass's ``p_ref`` keyed by
``orig_index``). A training row without a value is refused, naming the rows.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from verl_ext.curriculum.base import Curriculum, CurriculumConfig, Group, RolloutContext, register_curriculum
from verl_ext.curriculum.fields import read_field

__all__ = [
    "AdaRFTCurriculum",
    "AdaRFTConfig",
    "load_difficulty",
    "select_closest",
    "transform_difficulty",
    "update_target",
]

logger = logging.getLogger(__name__)

TRANSFORMS = ("identity", "minmax", "math_level", "pass_rate")
_LEVEL = re.compile(r"^\s*(?:level\s*)?([1-5])\s*$", re.IGNORECASE)


def update_target(
    target: float, mean_reward: float, eta: float, alpha: float, beta: float, lo: float, hi: float
) -> float:
    """AdaRFT's target update T ← clip(T + η·tanh(α·(R̄ − β)), lo, hi)."""
    return float(np.clip(target + eta * np.tanh(alpha * (mean_reward - beta)), lo, hi))


def select_closest(difficulty: np.ndarray, target: float, m: int, rng: np.random.Generator) -> np.ndarray:
    """The m indices with the smallest |d − T|, ties in a random order drawn from ``rng``; shape ``(m,)``."""
    perm = rng.permutation(difficulty.size)
    order = np.argsort(np.abs(difficulty[perm] - target), kind="stable")[:m]
    return perm[order].astype(np.int64)


def transform_difficulty(raw: Sequence[Any], transform: str, rows: np.ndarray | None = None) -> np.ndarray:
    """Map raw difficulty values to the 0–100 scale (see the module docstring); errors name the offending rows."""
    rows = np.arange(len(raw)) if rows is None else rows
    if transform not in TRANSFORMS:
        raise ValueError(f"curriculum.params.difficulty_transform={transform!r} is invalid; use one of {TRANSFORMS}")
    if transform == "math_level":
        out = np.full(len(raw), np.nan)
        for i, v in enumerate(raw):
            match = _LEVEL.match(str(v)) if v is not None else None
            if match:
                out[i] = (int(match.group(1)) - 1) * 25.0
        bad = rows[np.isnan(out)]
        if bad.size:
            raise ValueError(
                f"{bad.size} training rows have no MATH level 'Level 1'..'Level 5' (first rows: {bad[:10].tolist()})"
            )
        return out
    try:
        values = np.array([np.nan if v is None else float(v) for v in raw], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"difficulty values must be numbers for difficulty_transform={transform!r}: {err}") from None
    bad = rows[~np.isfinite(values)]
    if bad.size:
        raise ValueError(f"{bad.size} training rows have no difficulty value (first rows: {bad[:10].tolist()})")
    if transform == "identity":
        out_of_range = rows[(values < 0) | (values > 100)]
        if out_of_range.size:
            raise ValueError(
                f"difficulty_transform=identity needs values in [0, 100]; rows {out_of_range[:10].tolist()} are not "
                "(use minmax, math_level or pass_rate)"
            )
        return values
    if transform == "pass_rate":
        out_of_range = rows[(values < 0) | (values > 1)]
        if out_of_range.size:
            raise ValueError(f"pass rates must lie in [0, 1]; rows {out_of_range[:10].tolist()} do not")
        return 100.0 * (1.0 - values)
    span = values.max() - values.min()
    if span == 0:
        logger.warning("adarft: every prompt has the same difficulty; minmax maps them all to 50")
        return np.full(values.shape, 50.0)
    return 100.0 * (values - values.min()) / span


def load_difficulty(
    files: str | Sequence[str], key: str, index_key: str, transform: str, num_prompts: int
) -> np.ndarray:
    """Per-training-row difficulty on 0–100 from parquet ``files`` (concatenated in order, like verl's dataset).

    Rows whose index is −1 are skipped (the pre-filter table marks dropped prompts so). Every training index
    0..num_prompts−1 must appear exactly once; missing ones are refused naming them.
    """
    where, index, raw = read_field(files, key, index_key, "curriculum.params.difficulty_file")
    keep = index != -1
    index, raw = index[keep], [v for v, k in zip(raw, keep, strict=True) if k]
    if index.size and (index.min() < 0 or index.max() >= num_prompts):
        raise ValueError(f"{where}: {index_key} values must lie in [0, {num_prompts}) (the training rows)")
    uniq, counts = np.unique(index, return_counts=True)
    if np.any(counts > 1):
        raise ValueError(f"{where}: {index_key} repeats rows {uniq[counts > 1][:10].tolist()}")
    missing = np.setdiff1d(np.arange(num_prompts), index)
    if missing.size:
        raise ValueError(
            f"{where} gives no {key!r} for {missing.size} of {num_prompts} training rows (first rows: "
            f"{missing[:10].tolist()}); AdaRFT needs a difficulty for every prompt"
        )
    values = transform_difficulty(raw, transform, rows=index)
    out = np.empty(num_prompts)
    out[index] = values
    return out


@dataclasses.dataclass
class AdaRFTConfig(CurriculumConfig):
    """AdaRFT options (paper defaults η = 50, α = 2, β = 0.5; difficulty in [lo, hi] = [0, 100]).

    Attributes:
        difficulty_file: parquet path(s) with one difficulty per training row (config group: data.train_files).
        difficulty_key: column or ``extra_info.<key>`` holding the raw difficulty.
        difficulty_index_key: column or ``extra_info.<key>`` holding the training row index.
        difficulty_transform: one of ``identity``, ``minmax``, ``math_level``, ``pass_rate``.
        target_init: T at step 1. eta, alpha, beta: the update's step size, sensitivity and target reward.
        lo, hi: bounds of T.
    """

    difficulty_file: str | list[str] | None = None
    difficulty_key: str = "extra_info.difficulty"
    difficulty_index_key: str = "extra_info.index"
    difficulty_transform: str = "minmax"
    target_init: float = 0.0
    eta: float = 50.0
    alpha: float = 2.0
    beta: float = 0.5
    lo: float = 0.0
    hi: float = 100.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.difficulty_transform not in TRANSFORMS:
            raise ValueError(
                f"curriculum.params.difficulty_transform={self.difficulty_transform!r} is invalid; use one of "
                f"{TRANSFORMS}"
            )
        if not self.lo < self.hi:
            raise ValueError(f"need curriculum.params.lo < hi (paper: 0, 100), got {self.lo}, {self.hi}")
        if not self.lo <= self.target_init <= self.hi:
            raise ValueError(f"curriculum.params.target_init={self.target_init} must lie in [lo, hi]")
        if self.eta < 0 or self.alpha <= 0:
            raise ValueError(f"need curriculum.params.eta >= 0 and alpha > 0, got {self.eta}, {self.alpha}")


@register_curriculum("adarft")
class AdaRFTCurriculum(Curriculum):
    """AdaRFT: the m prompts closest to the target difficulty; the target follows the batch's mean reward."""

    config_class = AdaRFTConfig

    def __init__(self, config: AdaRFTConfig, num_prompts: int, difficulty: np.ndarray | None = None) -> None:
        super().__init__(config, num_prompts)
        self.config: AdaRFTConfig = config
        if config.batch_size > num_prompts:
            raise ValueError(f"data.train_batch_size={config.batch_size} exceeds the pool of {num_prompts} prompts")
        if difficulty is None:
            if not config.difficulty_file:
                raise ValueError(
                    "adarft needs a difficulty per prompt: set curriculum.params.difficulty_file (the training parquet "
                    "or a table) and difficulty_key"
                )
            difficulty = load_difficulty(
                config.difficulty_file,
                config.difficulty_key,
                config.difficulty_index_key,
                config.difficulty_transform,
                num_prompts,
            )
        self.difficulty = np.asarray(difficulty, dtype=np.float64)
        if self.difficulty.shape != (num_prompts,) or not np.all(np.isfinite(self.difficulty)):
            raise ValueError(f"difficulty must be {num_prompts} finite values (one per training row)")
        self.rng = np.random.default_rng(config.seed)
        self.target = float(config.target_init)

    def run_step(self, ctx: RolloutContext) -> dict[str, float]:
        """Submit the m prompts closest to T with n responses each and commit them."""
        cfg = self.config
        idx = select_closest(self.difficulty, self.target, cfg.batch_size, self.rng)
        groups = ctx.submit(idx, cfg.n)
        ctx.commit(groups)
        d = self.difficulty[idx]
        return {
            "adarft/target": self.target,
            "adarft/difficulty_mean": float(d.mean()),
            "adarft/abs_gap_max": float(np.abs(d - self.target).max()),
        }

    def observe(self, trained: Sequence[Group], screened: Sequence[Group] = ()) -> dict[str, float]:
        """T ← clip(T + η·tanh(α·(R̄ − β)), lo, hi) with R̄ the mean reward of every trained response."""
        cfg = self.config
        rewards = [np.asarray(g.rewards, dtype=np.float64) for g in trained if g.rewards is not None]
        metrics: dict[str, float] = {}
        if not rewards or sum(r.size for r in rewards) == 0:
            logger.warning("adarft: no trained rewards this step; the target stays at %.3f", self.target)
            return metrics
        mean_reward = float(np.concatenate(rewards).mean())
        self.target = update_target(self.target, mean_reward, cfg.eta, cfg.alpha, cfg.beta, cfg.lo, cfg.hi)
        metrics["adarft/mean_reward"] = mean_reward
        metrics["adarft/next_target"] = self.target
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """RNG, target and pool size (the difficulty itself is data, reloaded at start)."""
        return {
            "rng": copy.deepcopy(self.rng.bit_generator.state),
            "target": self.target,
            "num_prompts": self.num_prompts,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        if int(state["num_prompts"]) != self.num_prompts:
            raise ValueError(
                f"checkpoint has a pool of {state['num_prompts']} prompts, this run {self.num_prompts}; "
                "resume with the same data.train_files"
            )
        self.rng.bit_generator.state = copy.deepcopy(dict(state["rng"]))
        self.target = float(state["target"])
