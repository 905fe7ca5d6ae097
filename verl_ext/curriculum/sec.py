"""SEC, Self-Evolving Curriculum (arXiv 2505.14970; docs/methods/sec.md): a non-stationary bandit over data categories.

The arms are the values of one categorical field of the data (MATH ``level``, or any ``extra_info`` key). Each arm c
holds a value Q_c (0 at the start). Every step:

1. each of the m batch slots draws an arm from the paper's Boltzmann policy  π(c) = softmax(Q / T)_c, and takes the
   next unused prompt of that arm (a seeded shuffled pass per arm, reshuffled when exhausted);
2. the m prompts are rolled out with n responses each and trained;
3. the reward of arm c is the mean absolute GRPO advantage of its responses in the batch,
   r_c = mean_i |A_i|,  A_i = (R_i − mean(R_group)) / (std(R_group) + ε)  (the paper's learning-gain reward;
   verl's GRPO estimator: unbiased std, ε = 1e-6), and its value moves by the paper's TD(0) update
   Q_c ← (1 − α)·Q_c + α·r_c. Arms not drawn this step keep their value.

An arm never serves more slots in one step than it has prompts (its draws are capped and the remaining slots are
redrawn among the other arms), so a batch never holds a prompt twice.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from verl_ext.curriculum.base import Curriculum, CurriculumConfig, Group, RolloutContext, register_curriculum
from verl_ext.curriculum.fields import read_field

__all__ = ["SECCurriculum", "SECConfig", "boltzmann", "grpo_abs_advantage", "load_categories", "td_update"]

logger = logging.getLogger(__name__)

GRPO_EPS = 1e-6  # verl's compute_grpo_outcome_advantage epsilon
_PER_ARM_METRICS = 16  # per-arm sec/q/<arm> and sec/p/<arm> metrics up to this many arms


def boltzmann(q: np.ndarray, temperature: float) -> np.ndarray:
    """π = softmax(Q / T) (Boltzmann policy), computed stably; shape of ``q``."""
    z = np.asarray(q, dtype=np.float64) / temperature
    z = np.exp(z - z.max())
    return z / z.sum()


def grpo_abs_advantage(rewards: np.ndarray) -> np.ndarray:
    """|A_i| of one group under verl's GRPO advantage, A_i = (R_i − mean R) / (std R + ε) with the unbiased std;
    a group of one response gets A = R (verl: mean 0, std 1)."""
    r = np.asarray(rewards, dtype=np.float64)
    if r.size == 1:
        return np.abs(r)
    return np.abs((r - r.mean()) / (r.std(ddof=1) + GRPO_EPS))


def td_update(q: np.ndarray, rewards: Mapping[int, float], lr: float) -> np.ndarray:
    """Q_c ← (1 − α)·Q_c + α·r_c for the arms in ``rewards`` (TD(0)); the other arms are unchanged."""
    out = np.array(q, dtype=np.float64, copy=True)
    for arm, r in rewards.items():
        out[arm] = (1.0 - lr) * out[arm] + lr * r
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value)


def load_categories(files: str | Sequence[str], key: str, index_key: str, num_prompts: int) -> list[Any]:
    """One category label per training row, from parquet ``files`` concatenated in order (like verl's dataset).

    Raises:
        ValueError: a missing column/key, an index outside the pool or repeated, or rows without a label (named).
    """
    where, index, raw = read_field(files, key, index_key, "curriculum.params.arm_file")
    if index.size != num_prompts or np.any(np.sort(index) != np.arange(num_prompts)):
        raise ValueError(
            f"{where}: {index_key} must hold each training index 0..{num_prompts - 1} exactly once "
            f"({index.size} rows read); use the run's own data.train_files as curriculum.params.arm_file"
        )
    labels: list[Any] = [None] * num_prompts
    for i, v in zip(index.tolist(), raw, strict=True):
        labels[i] = v
    bad = [i for i, v in enumerate(labels) if _missing(v)]
    if bad:
        raise ValueError(
            f"{where}: {len(bad)} training rows have no {key!r} (first rows by {index_key}: {bad[:10]}); SEC needs a "
            "category per prompt: set curriculum.params.arm_key to a field every row has"
        )
    return labels


@dataclasses.dataclass
class SECConfig(CurriculumConfig):
    """SEC options (defaults: α = 0.5, T = 0.4).

    Attributes:
        arm_file: parquet path(s) holding the category of every training row (the config group: data.train_files).
        arm_key: column or ``extra_info.<key>`` whose values are the arms (MATH: ``extra_info.level``).
        index_key: column or ``extra_info.<key>`` holding each row's training index.
        lr: α, TD(0) step size of Q.
        temperature: T of the Boltzmann policy softmax(Q/T).
        q_init: initial Q of every arm.
    """

    arm_file: str | list[str] | None = None
    arm_key: str = "extra_info.level"
    index_key: str = "extra_info.index"
    lr: float = 0.5
    temperature: float = 0.4
    q_init: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.lr <= 1.0:
            raise ValueError(f"curriculum.params.lr (SEC's α) must lie in (0, 1], got {self.lr}")
        if not self.temperature > 0.0:
            raise ValueError(f"curriculum.params.temperature must be > 0, got {self.temperature}")
        if not math.isfinite(self.q_init):
            raise ValueError(f"curriculum.params.q_init must be finite, got {self.q_init}")


def _arm_name(label: Any) -> str:
    return re.sub(r"[^0-9A-Za-z_.-]+", "_", str(label)).strip("_") or "arm"


@register_curriculum("sec")
class SECCurriculum(Curriculum):
    """Self-Evolving Curriculum: arms = categories, Boltzmann draws per slot, TD(0) on the mean |advantage|."""

    config_class = SECConfig

    def __init__(self, config: SECConfig, num_prompts: int, categories: Sequence[Any] | None = None) -> None:
        super().__init__(config, num_prompts)
        self.config: SECConfig = config
        if config.batch_size > num_prompts:
            raise ValueError(f"data.train_batch_size={config.batch_size} exceeds the pool of {num_prompts} prompts")
        if categories is None:
            if not config.arm_file:
                raise ValueError(
                    "sec needs a category per prompt: set curriculum.params.arm_file (the training parquet, "
                    "${data.train_files}) and curriculum.params.arm_key (e.g. extra_info.level)"
                )
            categories = load_categories(config.arm_file, config.arm_key, config.index_key, num_prompts)
        if len(categories) != num_prompts:
            raise ValueError(f"need one category per prompt ({num_prompts}), got {len(categories)}")
        bad = [i for i, v in enumerate(categories) if _missing(v)]
        if bad:
            raise ValueError(f"{len(bad)} prompts have no category (first indices: {bad[:10]})")
        keys = [str(v) for v in categories]
        self.arms: list[str] = sorted(set(keys))
        arm_of = {a: j for j, a in enumerate(self.arms)}
        self.arm_of_prompt = np.array([arm_of[k] for k in keys], dtype=np.int64)
        self.members = [np.flatnonzero(self.arm_of_prompt == j).astype(np.int64) for j in range(len(self.arms))]
        self.rng = np.random.default_rng(config.seed)
        self.q = np.full(len(self.arms), float(config.q_init))
        self.perms = [self.rng.permutation(m) for m in self.members]
        self.pos = np.zeros(len(self.arms), dtype=np.int64)
        self.arm_epochs = np.zeros(len(self.arms), dtype=np.int64)
        self._last_probs = boltzmann(self.q, config.temperature)
        logger.info(
            "sec: %d arms from %s: %s", len(self.arms), config.arm_key, dict(zip(self.arms, map(len, self.members)))
        )

    # ------------------------------------------------------------------ choice
    def draw_arms(self) -> np.ndarray:
        """Per-arm slot counts, shape ``(A,)``, summing to m: each slot draws c ~ softmax(Q/T); an arm's count is
        capped at its size and the remaining slots are redrawn among the arms with room left."""
        m, probs = self.config.batch_size, boltzmann(self.q, self.config.temperature)
        self._last_probs = probs
        sizes = np.array([m_.size for m_ in self.members], dtype=np.int64)
        counts = np.zeros(len(self.arms), dtype=np.int64)
        left = m
        while left > 0:
            room = sizes - counts
            p = np.where(room > 0, probs, 0.0)
            if p.sum() <= 0.0:  # every arm with room has probability 0 after underflow: uniform over them
                p = (room > 0).astype(np.float64)
            counts += np.minimum(self.rng.multinomial(left, p / p.sum()), room)
            left = m - int(counts.sum())
        return counts

    def next_of_arm(self, arm: int, k: int) -> np.ndarray:
        """The next ``k`` (≤ arm size) distinct unused prompts of ``arm``; a new shuffled pass starts when it runs out
        (prompts already served in this call go to the back of the new pass)."""
        perm, pos = self.perms[arm], int(self.pos[arm])
        take = perm[pos : pos + k]
        if take.size < k:
            fresh = self.rng.permutation(self.members[arm])
            fresh = np.concatenate([fresh[~np.isin(fresh, take)], fresh[np.isin(fresh, take)]])
            rest = k - take.size
            take = np.concatenate([take, fresh[:rest]])
            self.perms[arm], self.pos[arm] = fresh, rest
            self.arm_epochs[arm] += 1
        else:
            self.pos[arm] = pos + k
        return take.astype(np.int64)

    def propose(self) -> np.ndarray:
        """The step's m prompts (arm by arm, in arm order)."""
        counts = self.draw_arms()
        return np.concatenate([self.next_of_arm(a, int(c)) for a, c in enumerate(counts) if c > 0])

    # ------------------------------------------------------------------ step
    def run_step(self, ctx: RolloutContext) -> dict[str, float]:
        """Submit the m drawn prompts with n responses each and commit them."""
        idx = self.propose()
        ctx.commit(ctx.submit(idx, self.config.n))
        drawn = np.bincount(self.arm_of_prompt[idx], minlength=len(self.arms))
        probs = self._last_probs
        metrics = {
            "sec/arms_drawn": float((drawn > 0).sum()),
            "sec/policy_entropy": float(-(probs * np.log(np.clip(probs, 1e-300, None))).sum()),
            "sec/q_max": float(self.q.max()),
            "sec/q_min": float(self.q.min()),
        }
        if len(self.arms) <= _PER_ARM_METRICS:
            for a, name in enumerate(self.arms):
                metrics[f"sec/p/{_arm_name(name)}"] = float(probs[a])
                metrics[f"sec/drawn/{_arm_name(name)}"] = float(drawn[a])
        return metrics

    def arm_rewards(self, trained: Sequence[Group]) -> dict[int, float]:
        """r_c: mean |GRPO advantage| over the responses of arm c's trained groups (arms with no group: absent)."""
        sums: dict[int, float] = {}
        counts: dict[int, int] = {}
        for g in trained:
            if g.rewards is None or len(g.rewards) == 0:
                continue
            if not 0 <= g.index < self.num_prompts:
                raise ValueError(f"sec.observe: group index {g.index} is outside the pool of {self.num_prompts}")
            arm = int(self.arm_of_prompt[g.index])
            adv = grpo_abs_advantage(np.asarray(g.rewards))
            sums[arm] = sums.get(arm, 0.0) + float(adv.sum())
            counts[arm] = counts.get(arm, 0) + int(adv.size)
        return {a: sums[a] / counts[a] for a in sorted(sums)}

    def observe(self, trained: Sequence[Group], screened: Sequence[Group] = ()) -> dict[str, float]:
        """TD(0) on each drawn arm's mean |advantage|; undrawn arms keep their Q."""
        rewards = self.arm_rewards(trained)
        self.q = td_update(self.q, rewards, self.config.lr)
        metrics: dict[str, float] = {}
        if rewards:
            metrics["sec/arm_reward_mean"] = float(np.mean(list(rewards.values())))
        if len(self.arms) <= _PER_ARM_METRICS:
            for a, name in enumerate(self.arms):
                metrics[f"sec/q/{_arm_name(name)}"] = float(self.q[a])
        return metrics

    # ------------------------------------------------------------------ checkpoint
    def _arms_digest(self) -> str:
        return hashlib.sha256(self.arm_of_prompt.tobytes() + "\0".join(self.arms).encode()).hexdigest()

    def state_dict(self) -> dict[str, Any]:
        """RNG, Q, each arm's pass (permutation, position, passes) and a digest of the arm labels."""
        return {
            "rng": copy.deepcopy(self.rng.bit_generator.state),
            "q": self.q.copy(),
            "perms": [p.copy() for p in self.perms],
            "pos": self.pos.copy(),
            "arm_epochs": self.arm_epochs.copy(),
            "arms": list(self.arms),
            "arms_digest": self._arms_digest(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; refuses a checkpoint whose arms (labels per prompt) differ from this data."""
        if state["arms_digest"] != self._arms_digest():
            raise ValueError(
                f"the checkpoint's SEC arms {list(state['arms'])[:10]} (or their prompts) differ from this run's "
                f"{self.arms[:10]}; resume with the same data.train_files and curriculum.params.arm_key"
            )
        self.rng.bit_generator.state = copy.deepcopy(dict(state["rng"]))
        self.q = np.asarray(state["q"], dtype=np.float64).copy()
        self.perms = [np.asarray(p, dtype=np.int64).copy() for p in state["perms"]]
        self.pos = np.asarray(state["pos"], dtype=np.int64).copy()
        self.arm_epochs = np.asarray(state["arm_epochs"], dtype=np.int64).copy()
        self._last_probs = boltzmann(self.q, self.config.temperature)
