"""Extension point: a curriculum that needs more than prompt selection (PCL's value worker group).

A strategy declares its extension as a class capability (``Curriculum.extension = "module:Class"``, imported only
when that strategy runs); the extension is called by :class:`CurriculumTrainerSync` at fixed points,
all while the rollout engine sleeps except ``score`` (called from inside ``run_step``).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from verl_ext.curriculum.base import Group, get_curriculum_class

if TYPE_CHECKING:
    from verl_ext.trainer.trainer import CurriculumTrainerSync

__all__ = ["TrainerExtension", "build_extension"]


class TrainerExtension(Protocol):
    def setup(self, trainer: CurriculumTrainerSync) -> None:
        """After verl's ``_setup``: create worker groups on the trainer's resource pool."""

    def load(self, trainer: CurriculumTrainerSync, step_dir: str) -> None:
        """Restore the extension's checkpoint from a resumed step folder (after ``setup``)."""

    def save(self, trainer: CurriculumTrainerSync, step_dir: str) -> None:
        """Write the extension's checkpoint into the step folder (before verl's tracker file)."""

    def on_init_end(self, trainer: CurriculumTrainerSync) -> None:
        """Before the first weight push wakes the rollout."""

    def after_step(self, trainer: CurriculumTrainerSync, trained: Sequence[Group]) -> dict[str, float]:
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
