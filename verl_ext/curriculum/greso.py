"""GRESO (arXiv 2506.02177; docs/methods/greso.md): skip prompts whose recent rollouts had zero variance.

Before rollout a prompt whose last z rollout-rounds were all correct (p̂ = 1) is skipped with probability
1 − max(p_e^z, 0.01); all wrong (p̂ = 0): 1 − max(p_h^z, 0.01). The kept pool of B prompts is rolled out
with n responses; informative groups are kept until m are found (B adapts to the remaining need), and
after the step p_e, p_h move by Δp towards the target zero-variance shares α_e, α_h (from the second data
epoch on). With binary rewards "all correct" ⇔ p̂ = 1 and "all wrong" ⇔ p̂ = 0.

History H: one record (data_epoch: int16, correct count: uint8) per rollout of a prompt, released surplus
included, in three flat arrays; the trailing run lengths used by the skip rule are kept per prompt.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from verl_ext.curriculum.base import (
    Curriculum,
    CurriculumConfig,
    GenerationBudgetExceeded,
    Group,
    RolloutContext,
    register_curriculum,
)
from verl_ext.curriculum.filtering import RoundLog, draw_fresh
from verl_ext.curriculum.sampler import PassSampler, get_rng_state, set_rng_state

__all__ = [
    "GresoConfig",
    "GresoCurriculum",
    "history_skip_probability",
    "next_rollout_batch",
    "skip_probability",
    "update_keep_probability",
]

_SKIP_FLOOR = 0.01  # keep probability never falls below 1 %: a skipped prompt is eventually re-explored


def skip_probability(consecutive: int, p: float) -> float:
    """GRESO skip probability 1 − max(p^z, 0.01) after z consecutive zero-variance rounds; 0 when z = 0.

    Args:
        consecutive: z, trailing rollout-rounds with p̂ = 1 (use p = p_easy) or p̂ = 0 (use p = p_hard).
        p: base keep probability in (0, 1].
    """
    if consecutive < 0:
        raise ValueError(f"consecutive must be >= 0, got {consecutive}")
    if consecutive == 0:
        return 0.0
    return 1.0 - max(p**consecutive, _SKIP_FLOOR)


def _skip_probabilities(z_easy: np.ndarray, z_hard: np.ndarray, p_easy: float, p_hard: float) -> np.ndarray:
    """Vectorised :func:`skip_probability` for prompts with trailing runs ``z_easy``/``z_hard`` (shape (k,))."""
    probs = np.zeros(z_easy.shape, dtype=np.float64)
    easy, hard = z_easy > 0, z_hard > 0
    probs[easy] = 1.0 - np.maximum(p_easy ** z_easy[easy].astype(np.float64), _SKIP_FLOOR)
    probs[hard] = 1.0 - np.maximum(p_hard ** z_hard[hard].astype(np.float64), _SKIP_FLOOR)
    return probs


def history_skip_probability(p_hats: Sequence[float], p_easy: float, p_hard: float) -> float:
    """Skip probability of a prompt from its history of per-round p̂ values (oldest first); empty → 0."""
    z_easy = z_hard = 0
    for p_hat in p_hats:
        z_easy = z_easy + 1 if p_hat == 1.0 else 0
        z_hard = z_hard + 1 if p_hat == 0.0 else 0
    if z_easy:
        return skip_probability(z_easy, p_easy)
    return skip_probability(z_hard, p_hard)


def next_rollout_batch(remaining: int, zero_var_share: float, b_default: int, b_min: int, overshoot: float) -> int:
    """Next round's pool size B = max(B_min, min(B_default, int(remaining / max(1 − z, 1e-3) · overshoot))).

    Args:
        remaining: m − |kept|, informative groups still missing.
        zero_var_share: z, share of the last round's groups with p̂ ∈ {0, 1}.
    """
    expected = remaining / max(1.0 - zero_var_share, 1e-3) * overshoot
    return max(b_min, min(b_default, int(expected)))


def update_keep_probability(p: float, share: float, target: float, delta: float, p_min: float, p_max: float) -> float:
    """p ← clip(p − Δp if share ≥ target else p + Δp, p_min, p_max): skip more when zero-variance groups exceed
    their target share α, less otherwise."""
    return float(np.clip(p - delta if share >= target else p + delta, p_min, p_max))


@dataclasses.dataclass
class GresoConfig(CurriculumConfig):
    """GRESO hyper-parameters (PCL F.3 values; unknowns → official code).

    Attributes:
        p_easy, p_hard: initial base keep probabilities of too-easy / too-hard prompts.
        alpha_easy, alpha_hard: target shares of all-correct / all-wrong groups per step.
        delta_p: adaptation step of p_easy/p_hard; p_min, p_max: their clipping range.
        rollout_batch: B_default, the first round's pool size (PCL 768 or 1024).
        min_rollout_batch: B_min; overshoot: safety factor of the adaptive B; fetch_chunk: prompts per fetch.
    """

    p_easy: float = 0.5
    p_hard: float = 0.5
    alpha_easy: float = 0.083
    alpha_hard: float = 0.167
    delta_p: float = 0.01
    p_min: float = 0.05
    p_max: float = 0.95
    rollout_batch: int = 768
    min_rollout_batch: int = 64
    overshoot: float = 1.25
    fetch_chunk: int = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.p_min <= self.p_max <= 1.0:
            raise ValueError(f"need 0 < curriculum.p_min <= p_max <= 1, got p_min={self.p_min}, p_max={self.p_max}")
        for key in ("p_easy", "p_hard"):
            if not self.p_min <= getattr(self, key) <= self.p_max:
                raise ValueError(f"curriculum.{key}={getattr(self, key)} must lie in [p_min, p_max]; change one")
        for key in ("alpha_easy", "alpha_hard"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"curriculum.{key} is a share of groups and must lie in [0, 1]")
        if self.delta_p < 0:
            raise ValueError(f"curriculum.delta_p must be >= 0, got {self.delta_p}")
        if not 1 <= self.min_rollout_batch <= self.rollout_batch:
            raise ValueError(
                f"need 1 <= curriculum.min_rollout_batch <= rollout_batch, got {self.min_rollout_batch} "
                f"and {self.rollout_batch}"
            )
        if self.overshoot < 1.0:
            raise ValueError(f"curriculum.overshoot must be >= 1 (official 1.25), got {self.overshoot}")
        if self.fetch_chunk < 1:
            raise ValueError(f"curriculum.fetch_chunk must be >= 1, got {self.fetch_chunk}")
        if self.n > 255:
            raise ValueError(f"GRESO history stores correct counts as uint8; n={self.n} must be <= 255")


@dataclasses.dataclass
class _StepStats:
    skipped_easy: int = 0
    skipped_hard: int = 0
    easy: int = 0
    hard: int = 0


@register_curriculum("greso")
class GresoCurriculum(Curriculum):
    """GRESO selector: probabilistic pre-rollout skipping + fill-the-batch filtering (docs/methods/greso.md)."""

    config_class = GresoConfig

    def __init__(self, config: GresoConfig, num_prompts: int) -> None:
        super().__init__(config, num_prompts)
        if config.batch_size > num_prompts:
            raise ValueError(
                f"batch_size={config.batch_size} exceeds the pool of {num_prompts}; lower data.train_batch_size"
            )
        self.config: GresoConfig = config
        self.rng = np.random.default_rng(config.seed)
        self.sampler = PassSampler(num_prompts, self.rng)
        self.p_easy, self.p_hard = float(config.p_easy), float(config.p_hard)
        self.trail_easy = np.zeros(num_prompts, dtype=np.int32)
        self.trail_hard = np.zeros(num_prompts, dtype=np.int32)
        self._h_index = np.zeros(0, dtype=np.int64)
        self._h_epoch = np.zeros(0, dtype=np.int16)
        self._h_correct = np.zeros(0, dtype=np.uint8)
        self._h_len = 0

    # ----------------------------------------------------------------------------------------------- history
    @property
    def history_size(self) -> int:
        """Number of history records (one per prompt rollout)."""
        return self._h_len

    def history(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(data_epoch int16, correct count uint8) records of prompt ``index``, oldest first."""
        mask = self._h_index[: self._h_len] == index
        return self._h_epoch[: self._h_len][mask].copy(), self._h_correct[: self._h_len][mask].copy()

    def record(self, groups: Sequence[Group], data_epoch: int) -> None:
        """Append one history record per rolled-out group and update the trailing zero-variance runs."""
        k = len(groups)
        if self._h_len + k > self._h_index.size:  # amortised growth of the flat arrays
            cap = max(2 * self._h_index.size, self._h_len + k, 1024)
            self._h_index = np.resize(self._h_index, cap)
            self._h_epoch = np.resize(self._h_epoch, cap)
            self._h_correct = np.resize(self._h_correct, cap)
        sl = slice(self._h_len, self._h_len + k)
        idx = np.array([g.index for g in groups], dtype=np.int64)
        correct = np.array([g.successes for g in groups], dtype=np.int64)
        n = np.array([g.n for g in groups], dtype=np.int64)
        self._h_index[sl], self._h_epoch[sl], self._h_correct[sl] = idx, data_epoch, correct
        self._h_len += k
        easy, hard = correct == n, correct == 0
        self.trail_easy[idx] = np.where(easy, self.trail_easy[idx] + 1, 0)
        self.trail_hard[idx] = np.where(hard, self.trail_hard[idx] + 1, 0)

    def skip_decisions(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Draw the skip decision of each prompt (one uniform per prompt from the curriculum RNG).

        Returns:
            (skip, easy): bool arrays of shape ``(k,)``; ``easy`` marks prompts whose trailing run is all-correct.
        """
        z_easy, z_hard = self.trail_easy[indices], self.trail_hard[indices]
        probs = _skip_probabilities(z_easy, z_hard, self.p_easy, self.p_hard)
        return self.rng.random(len(indices)) < probs, z_easy > 0

    # -------------------------------------------------------------------------------------------------- step
    def _fill_pool(self, size: int, used: set[int], stats: _StepStats, ctx: RolloutContext) -> np.ndarray:
        """Fetch chunks of fresh prompts, drop the skipped ones, until ``size`` prompts are in the pool.

        The whole last chunk is kept, so the pool may exceed ``size`` by less than one chunk (no fetched,
        unskipped prompt is silently lost from the pass).
        """
        pool: list[np.ndarray] = []
        have = 0
        while have < size:
            left = self.num_prompts - len(used)
            if left == 0:
                raise GenerationBudgetExceeded(
                    f"greso: step {ctx.step} scanned the whole pool of {self.num_prompts} prompts and found only "
                    f"{have} of the {size} to roll out ({stats.skipped_easy} skipped as too easy, "
                    f"{stats.skipped_hard} as too hard); raise curriculum.p_min, lower curriculum.rollout_batch "
                    "or the batch size, or check the reward function"
                )
            chunk = draw_fresh(self.sampler, min(self.config.fetch_chunk, left), used)
            skip, easy = self.skip_decisions(chunk)
            stats.skipped_easy += int((skip & easy).sum())
            stats.skipped_hard += int((skip & ~easy).sum())
            pool.append(chunk[~skip])
            have += int((~skip).sum())
        return np.concatenate(pool)

    def run_step(self, ctx: RolloutContext) -> dict[str, float]:
        """Fill pools of B unskipped prompts, roll them out, keep informative groups until m; commit the first m.

        Raises:
            GenerationBudgetExceeded: more than ``max_gen_rounds`` rounds, or a whole-pool scan cannot fill a pool.
        """
        cfg, m = self.config, self.config.batch_size
        log, stats, used = RoundLog(), _StepStats(), set()
        kept: list[Group] = []
        size = cfg.rollout_batch
        while True:
            log.enforce_bound(ctx, kept, "greso", cfg.max_gen_rounds, len(kept), m, knob="rollout_batch")
            try:
                pool = self._fill_pool(size, used, stats, ctx)
            except GenerationBudgetExceeded:
                ctx.release(kept)
                raise
            groups = ctx.generate(pool, cfg.n)
            log.rounds += 1
            self.record(groups, self.sampler.data_epoch)
            easy_before, hard_before = log.all_correct, log.all_wrong
            informative, rest = log.add(groups, len(groups) * cfg.n)
            ctx.release(rest)
            kept.extend(informative)
            stats.easy += log.all_correct - easy_before
            stats.hard += log.all_wrong - hard_before
            if len(kept) >= m:
                break
            size = next_rollout_batch(
                m - len(kept), len(rest) / len(groups), cfg.rollout_batch, cfg.min_rollout_batch, cfg.overshoot
            )
        ctx.release(kept[m:])
        ctx.commit(kept[:m])
        self._adapt(stats, log.prompts)
        return self._metrics(log, stats)

    def _adapt(self, stats: _StepStats, total: int) -> None:
        """Move p_easy/p_hard by Δp towards the target shares; frozen during the first data epoch."""
        if self.sampler.data_epoch < 1:
            return
        cfg = self.config
        self.p_easy = update_keep_probability(
            self.p_easy, stats.easy / total, cfg.alpha_easy, cfg.delta_p, cfg.p_min, cfg.p_max
        )
        self.p_hard = update_keep_probability(
            self.p_hard, stats.hard / total, cfg.alpha_hard, cfg.delta_p, cfg.p_min, cfg.p_max
        )

    def _metrics(self, log: RoundLog, stats: _StepStats) -> dict[str, float]:
        skipped = stats.skipped_easy + stats.skipped_hard
        return {
            "greso/skipped_easy": float(stats.skipped_easy),
            "greso/skipped_hard": float(stats.skipped_hard),
            "greso/p_easy": self.p_easy,
            "greso/p_hard": self.p_hard,
            "greso/too_easy_ratio": stats.easy / log.prompts,
            "greso/too_hard_ratio": stats.hard / log.prompts,
            "greso/rollout_batch": float(log.prompts),
            "greso/history_size": float(self._h_len),
            "greso/rollouts_saved": float(skipped * self.config.n),
        }

    # -------------------------------------------------------------------------------------------- checkpoint
    def state_dict(self) -> dict[str, Any]:
        """History H (index int64, data_epoch int16, correct uint8), trailing runs, p_e, p_h, RNG, sampler."""
        n = self._h_len
        return {
            "rng": get_rng_state(self.rng),
            "sampler": self.sampler.state_dict(),
            "p_easy": self.p_easy,
            "p_hard": self.p_hard,
            "history_index": self._h_index[:n].copy(),
            "history_epoch": self._h_epoch[:n].copy(),
            "history_correct": self._h_correct[:n].copy(),
            "trail_easy": self.trail_easy.copy(),
            "trail_hard": self.trail_hard.copy(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        trail_easy = np.asarray(state["trail_easy"], dtype=np.int32)
        if trail_easy.shape != (self.num_prompts,):
            raise ValueError(
                f"checkpointed GRESO state covers {trail_easy.shape[0]} prompts but the pool has "
                f"{self.num_prompts}; resume with the same data.train_files"
            )
        set_rng_state(self.rng, state["rng"])
        self.sampler.load_state_dict(state["sampler"])
        self.p_easy, self.p_hard = float(state["p_easy"]), float(state["p_hard"])
        self._h_index = np.asarray(state["history_index"], dtype=np.int64).copy()
        self._h_epoch = np.asarray(state["history_epoch"], dtype=np.int16).copy()
        self._h_correct = np.asarray(state["history_correct"], dtype=np.uint8).copy()
        self._h_len = int(self._h_index.size)
        self.trail_easy = trail_easy.copy()
        self.trail_hard = np.asarray(state["trail_hard"], dtype=np.int32).copy()
