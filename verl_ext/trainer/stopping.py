"""Stop and keep: the papers' time budget and bounded checkpoints (pure helpers of ``CurriculumTrainerSync``).

- **Budget** (``run.budget_hours``): PCL trains every run for a wall-clock budget (2 days; 3 for Qwen3-8B-Base on
  DeepScaleR) and reports "Time" = training + generation, excluding validation and checkpointing (PCL §5, App. C.4).
  The trainer accumulates that clock per step (``time/train_gen_hours``) and stops once it reaches the budget.
- **Retention** (``trainer.max_actor_ckpt_to_keep`` = K, ``run.keep_best_checkpoint``): keep the K newest
  ``global_step_N`` folders whole (actor, critic, PCL value model, ``data.pt``, curriculum state) plus, when
  validation runs, the folder of the best validation score.

verl 0.9.1 applies ``max_*_ckpt_to_keep`` inside each worker's checkpoint manager: it removes only the ``actor/``
(``critic/``) sub-folder of old steps, from an in-memory list that a restarted process starts empty — the step
folder (with ``data.pt``, the curriculum state and the PCL value model) stays, and so does every checkpoint written
before a resume. Here the same K is applied to whole step folders, from the disk listing (so it survives resumes).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "BEST_FILE",
    "apply_retention",
    "StopSettings",
    "checkpoint_steps",
    "read_best",
    "retention_plan",
    "stop_settings",
    "validation_score",
    "write_best",
]

STEP_DIR = re.compile(r"^global_step_(\d+)$")
# written next to verl's tracker file when the best validation score improves: {"step", "score", "metric"}
BEST_FILE = "best_checkpoint.json"
# verl's validation metrics (verl/trainer/ppo/v1/trainer_base.py ``_val_metrics_update``): per data source, the
# core variable ("acc" if the reward reports it, else "reward") at its largest sample count
_CORE = (re.compile(r"^val-core/(.+)/acc/mean@\d+$"), re.compile(r"^val-core/(.+)/reward/mean@\d+$"))


@dataclasses.dataclass(frozen=True)
class StopSettings:
    """The stop-and-keep keys of one run, validated (see :func:`stop_settings`)."""

    budget_hours: float | None = None
    keep_last: int | None = None
    keep_best: bool = True
    best_metric: str | None = None

    @property
    def budget_seconds(self) -> float | None:
        return None if self.budget_hours is None else self.budget_hours * 3600.0

    def budget_reached(self, train_gen_seconds: float) -> bool:
        """True once the Time clock (seconds) has reached ``run.budget_hours``; never without a budget."""
        budget = self.budget_seconds
        return budget is not None and train_gen_seconds >= budget


def _get(node: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if node is None or not hasattr(node, "get"):
            return None
        node = node.get(part)
    return node


def _keep_count(value: Any, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key}={value!r}: must be a positive integer (checkpoints to keep) or null (keep all)")
    return value


def stop_settings(config: Mapping[str, Any]) -> StopSettings:
    """Read and validate ``run.budget_hours``, the checkpoint retention keys and ``run.best_metric``.

    Raises ``ValueError`` naming the key and its valid values. Keys a run does not set take their defaults (no
    budget, keep all, keep the best, mean of the validation sets' core accuracy).
    """
    budget = _get(config, "run.budget_hours")
    if budget is not None:
        if isinstance(budget, bool) or not isinstance(budget, int | float) or not math.isfinite(budget) or budget <= 0:
            raise ValueError(
                f"run.budget_hours={budget!r}: must be a positive number of hours (the Time clock: training + "
                "generation, validation and checkpointing excluded) or null (no budget)"
            )
        budget = float(budget)
    actor = _keep_count(_get(config, "trainer.max_actor_ckpt_to_keep"), "trainer.max_actor_ckpt_to_keep")
    critic = _keep_count(_get(config, "trainer.max_critic_ckpt_to_keep"), "trainer.max_critic_ckpt_to_keep")
    if actor != critic:
        raise ValueError(
            f"trainer.max_actor_ckpt_to_keep={actor} and trainer.max_critic_ckpt_to_keep={critic} differ: the "
            "curriculum trainer keeps whole global_step_N folders (actor, critic, value model, state), so they must "
            "be equal (configs/common.yaml interpolates the critic's from the actor's)"
        )
    if _get(config, "trainer.remove_previous_ckpt_in_save"):
        raise ValueError(
            "trainer.remove_previous_ckpt_in_save=true is deprecated in verl and bypasses the retention: set "
            "trainer.max_actor_ckpt_to_keep=1 instead"
        )
    if _get(config, "actor_rollout_ref.actor.checkpoint.async_save"):
        raise ValueError(
            "actor_rollout_ref.actor.checkpoint.async_save=true: verl then writes no tracker file, so neither the "
            "curriculum resume nor the retention can tell a finished checkpoint; set it to false"
        )
    keep_best = _get(config, "run.keep_best_checkpoint")
    keep_best = True if keep_best is None else keep_best
    if not isinstance(keep_best, bool):
        raise ValueError(f"run.keep_best_checkpoint={keep_best!r}: must be true or false")
    metric = _get(config, "run.best_metric")
    if metric is not None and (not isinstance(metric, str) or not metric.startswith("val-")):
        raise ValueError(
            f"run.best_metric={metric!r}: must be a verl validation metric name (val-core/<data_source>/acc/mean@k, "
            "...) or null (the mean over validation sets of val-core/<data_source>/{acc|reward}/mean@k)"
        )
    return StopSettings(budget_hours=budget, keep_last=actor, keep_best=keep_best, best_metric=metric)


def validation_score(metrics: Mapping[str, Any], metric: str | None = None) -> float | None:
    """The score a validation is ranked by, or ``None`` when ``metrics`` hold no validation.

    Default (``metric`` null): the mean over validation data sources of verl's core accuracy
    ``val-core/<source>/acc/mean@k`` (``reward`` when the scorer reports no ``acc``) — PCL's reported checkpoint is the
    evaluation with the best average (MATH500 alone for MATH runs, the mean of six benchmarks for DeepScaleR runs).
    A named ``metric`` absent from a validation raises ``KeyError`` listing the validation keys logged.
    """
    if not any(str(k).startswith("val-") for k in metrics):
        return None
    if metric is not None:
        if metric not in metrics:
            keys = sorted(k for k in metrics if str(k).startswith("val-core/"))
            raise KeyError(f"run.best_metric={metric!r} is not among this validation's metrics: {keys}")
        return float(metrics[metric])
    per_source: dict[str, float] = {}
    for pattern in _CORE:  # acc first: a source that reports acc is ranked by it
        for key, value in metrics.items():
            found = pattern.match(str(key))
            if found and found.group(1) not in per_source:
                per_source[found.group(1)] = float(value)
    if not per_source:
        return None
    return sum(per_source.values()) / len(per_source)


def checkpoint_steps(root: str) -> list[int]:
    """Steps N of the ``global_step_N`` folders under ``root`` (sorted; empty when ``root`` does not exist)."""
    if not os.path.isdir(root):
        return []
    steps = []
    for name in os.listdir(root):
        found = STEP_DIR.match(name)
        if found and os.path.isdir(os.path.join(root, name)):
            steps.append(int(found.group(1)))
    return sorted(steps)


def retention_plan(steps: Iterable[int], current: int, keep_last: int | None, protect: Iterable[int] = ()) -> list[int]:
    """Steps whose folders to delete: all but the ``keep_last`` newest up to ``current`` and the ``protect`` ones.

    Folders newer than ``current`` (left by a run resumed from an earlier step) are never touched; ``current`` itself
    is always kept. ``keep_last`` null keeps everything.
    """
    if keep_last is None:
        return []
    candidates = sorted(s for s in steps if s <= current)
    keep = set(candidates[-keep_last:]) | set(protect) | {current}
    return [s for s in candidates if s not in keep]


def apply_retention(root: str, current: int, keep_last: int | None, protect: Iterable[int] = ()) -> list[int]:
    """Delete the folders :func:`retention_plan` names (whole ``global_step_N``); return their steps."""
    doomed = retention_plan(checkpoint_steps(root), current, keep_last, protect)
    for step in doomed:
        path = os.path.join(root, f"global_step_{step}")
        shutil.rmtree(path, ignore_errors=True)
        logger.info("checkpoint retention: removed %s (keep the %s newest%s)", path, keep_last,
                    f" and step {sorted(set(protect))}" if protect else "")  # fmt: skip
    newer = [s for s in checkpoint_steps(root) if s > current]
    if newer:
        logger.warning("checkpoint retention: %s holds steps %s newer than this run's step %d (an earlier run's); "
                       "left untouched", root, newer, current)  # fmt: skip
    return doomed


def read_best(root: str) -> dict[str, Any] | None:
    """The best-validation record written by :func:`write_best`, or ``None``."""
    path = os.path.join(root, BEST_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def write_best(root: str, step: int, score: float, metric: str | None) -> None:
    """Atomically record the step whose checkpoint scored best on validation (survives restarts)."""
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, BEST_FILE)
    record = {"step": int(step), "score": float(score), "metric": metric or "mean of val-core/*/{acc|reward}/mean@k"}
    with open(path + ".tmp", "w") as f:
        json.dump(record, f)
    os.replace(path + ".tmp", path)
