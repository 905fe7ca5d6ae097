"""Extension point: a curriculum that needs more than prompt selection (PCL's value worker group).

An extension is looked up by curriculum name and called by :class:`CurriculumTrainerSync` at fixed points,
all while the rollout engine sleeps except ``score`` (called from inside ``run_step``).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from verl_ext.curriculum.base import Group

if TYPE_CHECKING:
    from verl_ext.trainer.trainer import CurriculumTrainerSync

__all__ = ["TrainerExtension", "build_extension", "EXTENSIONS"]

# curriculum name -> "module:Class"; imported only when that curriculum runs.
EXTENSIONS: dict[str, str] = {
    "pcl": "verl_ext.workers.pcl_extension:PCLExtension",
    "cures_algorithm1": "verl_ext.workers.gradnorm_extension:CuresGradNormExtension",
}


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
    """The extension registered for curriculum ``name``, or ``None``."""
    target = EXTENSIONS.get(name)
    if target is None:
        return None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)()
