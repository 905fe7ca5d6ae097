"""Extension point: a curriculum that needs more than prompt selection (PCL's value worker group).

A strategy declares its extension as a class capability (``Curriculum.extension = "module:Class"``, imported only
when that strategy runs); the extension is called by :class:`CurriculumTrainerSync` at fixed points,
all while the rollout engine sleeps except ``score`` (called from inside ``run_step``).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from verl_ext.curriculum.base import Curriculum, Group, RolloutContext, get_curriculum_class

__all__ = ["ExtensionHandle", "TrainerExtension", "build_extension"]


@dataclasses.dataclass(frozen=True)
class ExtensionHandle:
    """What an extension may use of the trainer, and nothing else (built at the end of the trainer's ``_setup``).

    Attributes:
        config: the whole verl config (``curriculum.value_model``, ``actor_rollout_ref``, ``data``, ``trainer``).
        tokenizer: the policy's tokenizer; train_dataset: verl's ``RLHFDataset`` (row = ``extra_info.index``).
        curriculum: the running strategy.
        resource_pools: verl's resource pools by name (``global_pool``: where PCL colocates its value workers).
        actor_rollout_wg: the actor worker group (CurES Algorithm 1 measures per-trajectory gradient norms on it).
        checkpoint_manager: verl's ``CheckpointEngineManager`` (``sleep_replicas`` / ``update_weights``).
        new_context: a fresh rollout context of the current step, ``scorer`` behind ``ctx.score``.
        current_step: the trainer's ``global_steps`` now.
    """

    config: Any
    tokenizer: Any
    train_dataset: Any
    curriculum: Curriculum
    resource_pools: Mapping[str, Any]
    actor_rollout_wg: Any
    checkpoint_manager: Any
    new_context: Callable[[Callable[[np.ndarray], np.ndarray] | None], RolloutContext]
    current_step: Callable[[], int]

    @property
    def global_steps(self) -> int:
        """The trainer's step counter (1-based during a step; the checkpointed step in ``save``)."""
        return int(self.current_step())


class TrainerExtension(Protocol):
    def setup(self, handle: ExtensionHandle) -> None:
        """After verl's ``_setup``: create worker groups on the trainer's resource pool."""

    def load(self, handle: ExtensionHandle, step_dir: str) -> None:
        """Restore the extension's checkpoint from a resumed step folder (after ``setup``)."""

    def save(self, handle: ExtensionHandle, step_dir: str) -> None:
        """Write the extension's checkpoint into the step folder (before verl's tracker file)."""

    def on_init_end(self, handle: ExtensionHandle) -> None:
        """Before the first weight push wakes the rollout."""

    def after_step(self, handle: ExtensionHandle, trained: Sequence[Group]) -> dict[str, float]:
        """End of a step, after the policy update and ``observe``; returns metrics."""

    def score(self, indices: np.ndarray) -> np.ndarray:
        """Prompt-value predictions, exposed to the curriculum as ``ctx.score``."""


def build_extension(name: str) -> TrainerExtension | None:
    """The extension the strategy registered as ``name`` (or ``module:Class``) declares (``Curriculum.extension``)."""
    target = get_curriculum_class(name).extension
    if target is None:
        return None
    module, _, cls = target.partition(":")
    try:
        return getattr(importlib.import_module(module), cls)()
    except (ImportError, AttributeError) as err:
        raise ValueError(f"curriculum {name!r} declares extension {target!r}, which cannot be imported: {err}") from err
