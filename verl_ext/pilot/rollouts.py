"""Sample and score n responses per prompt of a contract parquet, as the training path renders and rewards them.

Rendering: the eval backends apply the tokenizer's chat template with the generation prompt, exactly as verl's agent
loop does with a row's ``prompt`` messages (tests/pilot check the ids). Reward: the project's binary math reward
(``verl_ext.rewards.math_reward.score_batch``), truncated responses score 0 without being checked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from verl_ext.eval.backends import Generation, GenerationBackend

logger = logging.getLogger(__name__)

__all__ = ["PromptSet", "Rollouts", "SamplingSpec", "load_prompts", "sample_and_score", "training_scorer"]

ScoreFn = Callable[[list[str], list[str], list[bool]], np.ndarray]


@dataclass(frozen=True)
class PromptSet:
    """The rows of one prompt file: ``index`` (P,) = ``extra_info.index``, chat messages and ground truths."""

    frame: pd.DataFrame
    index: np.ndarray
    messages: list[list[dict[str, str]]]
    ground_truths: list[Any]


@dataclass(frozen=True)
class SamplingSpec:
    """Sampling of the offline pass (the training rollout's: T, top-p, top-k with −1 = off, response limit)."""

    n: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    max_new_tokens: int = 4096
    seed: int = 1

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"need n >= 1 responses per prompt, got {self.n}")
        if self.temperature <= 0 or not 0 < self.top_p <= 1 or self.max_new_tokens < 1:
            raise ValueError(
                f"invalid sampling ({self.temperature=}, {self.top_p=}, {self.max_new_tokens=}): the pass samples "
                "(T > 0), with 0 < top_p <= 1 and a positive response limit"
            )

    def params(self) -> dict[str, Any]:
        """The backend's ``params`` dict (``verl_ext.eval.backends.GenerationBackend``)."""
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k,
                "max_new_tokens": self.max_new_tokens}  # fmt: skip


@dataclass(frozen=True)
class Rollouts:
    """n scored responses per prompt: ``scores`` and ``truncated`` have shape (P, n)."""

    index: np.ndarray
    generations: list[list[Generation]]
    scores: np.ndarray
    truncated: np.ndarray

    @property
    def n_correct(self) -> np.ndarray:
        """Correct responses per prompt, int64 (P,)."""
        return (self.scores > 0.5).sum(axis=1).astype(np.int64)

    @property
    def n_truncated(self) -> np.ndarray:
        """Responses that hit the token limit per prompt, int64 (P,)."""
        return self.truncated.sum(axis=1).astype(np.int64)


def _check_unique(index: np.ndarray, path: Path) -> None:
    values, counts = np.unique(index, return_counts=True)
    if (counts > 1).any():
        dup = values[counts > 1][:10].tolist()
        raise ValueError(
            f"{path}: extra_info.index has duplicate values {dup}; every prompt needs a unique index equal to its "
            "row position: re-prepare the file (scripts/prepare_data.py)"
        )


def load_prompts(path: str | Path) -> PromptSet:
    """Read a contract parquet (refusing duplicate indices, then the full contract check) into a ``PromptSet``."""
    from verl_ext.data.contract import read_dataset

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; pass a prepared training parquet via --data")
    raw = pd.read_parquet(path)
    if "extra_info" not in raw.columns:
        raise ValueError(f"{path} has no extra_info column; it is not a prepared (contract) parquet")
    _check_unique(np.asarray([(e or {}).get("index", -1) for e in raw["extra_info"]], dtype=np.int64), path)
    frame = read_dataset(path)
    index = np.asarray([e["index"] for e in frame["extra_info"]], dtype=np.int64)
    messages = [[{"role": str(m["role"]), "content": str(m["content"])} for m in p] for p in frame["prompt"]]
    truths = [rm["ground_truth"] for rm in frame["reward_model"]]
    return PromptSet(frame=frame, index=index, messages=messages, ground_truths=truths)


def training_scorer(timeout: float | None = None) -> ScoreFn:
    """The training reward as a batch scorer (responses, truths, truncated) → (B,) in {0, 1}."""
    from verl_ext.eval.runner import default_scorer

    return default_scorer(timeout)


def sample_and_score(backend: GenerationBackend, prompts: PromptSet, spec: SamplingSpec, scorer: ScoreFn) -> Rollouts:
    """Sample ``spec.n`` responses per prompt and score each (truncated → 0).

    Returns ``Rollouts`` with scores and truncated flags of shape (P, n).
    """
    gens = backend.generate(prompts.messages, spec.n, spec.params())
    if len(gens) != len(prompts.messages) or any(len(g) != spec.n for g in gens):
        raise RuntimeError(f"backend returned {[len(g) for g in gens]} responses for {len(gens)} prompts × {spec.n}")
    flat = [g for row in gens for g in row]
    truths = [t for t in prompts.ground_truths for _ in range(spec.n)]
    truncated = np.asarray([g.truncated for g in flat], dtype=bool)
    scores = np.asarray(scorer([g.text for g in flat], truths, truncated.tolist()), dtype=np.float64)
    scores[truncated] = 0.0  # the training rule, whatever the scorer does
    shape = (len(gens), spec.n)
    logger.info("scored %d responses: mean %.4f, truncated %d", scores.size, scores.mean(), int(truncated.sum()))
    return Rollouts(index=prompts.index, generations=gens, scores=scores.reshape(shape),
                    truncated=truncated.reshape(shape))  # fmt: skip
