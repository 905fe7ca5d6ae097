"""Extension point: a curriculum that needs more than prompt selection (PCL's value worker group).

A strategy declares its extension as a class capability (``Curriculum.extension = "module:Class"``, imported only
when that strategy runs); the extension is called by :class:`CurriculumTrainerSync` at fixed points,
all while the rollout engine sleeps except ``score`` (called from inside ``run_step``).

A strategy may also declare extensions that depend on its parameters: a class method
``config_extensions(params) -> tuple["module:Class", ...]`` (the value-model prior of the Beta estimators,
:class:`verl_ext.curriculum.value_prior.ValuePriorCapable`). With more than one extension the trainer drives a
:class:`CompositeExtension`: every hook in declaration order, ``score`` served by the last one.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from verl_ext.curriculum.base import Curriculum, Group, RolloutContext, get_curriculum_class

__all__ = ["CompositeExtension", "ExtensionHandle", "TrainerExtension", "build_extension", "declared_extensions"]


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


class CompositeExtension:
    """Several extensions behind the one :class:`TrainerExtension` protocol (hooks in order; ``score`` by the last)."""

    def __init__(self, parts: Sequence[TrainerExtension]) -> None:
        if len(parts) < 2:
            raise ValueError(f"a CompositeExtension needs at least two extensions, got {len(parts)}")
        self.parts = list(parts)

    def setup(self, handle: ExtensionHandle) -> None:
        """Every part's ``setup``, in order."""
        for part in self.parts:
            part.setup(handle)

    def load(self, handle: ExtensionHandle, step_dir: str) -> None:
        """Every part's ``load``, in order."""
        for part in self.parts:
            part.load(handle, step_dir)

    def save(self, handle: ExtensionHandle, step_dir: str) -> None:
        """Every part's ``save``, in order."""
        for part in self.parts:
            part.save(handle, step_dir)

    def on_init_end(self, handle: ExtensionHandle) -> None:
        """Every part's ``on_init_end``, in order."""
        for part in self.parts:
            part.on_init_end(handle)

    def after_step(self, handle: ExtensionHandle, trained: Sequence[Group]) -> dict[str, float]:
        """Every part's ``after_step``, in order; their metrics merged (a key returned twice is refused)."""
        metrics: dict[str, float] = {}
        for part in self.parts:
            out = part.after_step(handle, trained)
            clash = sorted(set(out) & set(metrics))
            if clash:
                raise RuntimeError(f"two trainer extensions return the metric(s) {clash}")
            metrics.update(out)
        return metrics

    def score(self, indices: np.ndarray) -> np.ndarray:
        """The last part's ``score`` (the parameter-declared value model)."""
        return self.parts[-1].score(indices)


def declared_extensions(name: str, params: Mapping[str, Any] | None = None) -> list[str]:
    """``module:Class`` targets a strategy declares: ``Curriculum.extension``, then ``config_extensions(params)``."""
    cls = get_curriculum_class(name)
    targets = [] if cls.extension is None else [cls.extension]
    by_params = getattr(cls, "config_extensions", None)
    if callable(by_params):
        targets += [t for t in by_params(dict(params or {})) if t not in targets]
    return targets


def build_extension(name: str, params: Mapping[str, Any] | None = None) -> TrainerExtension | None:
    """The extension(s) the strategy registered as ``name`` (or ``module:Class``) declares for ``params``
    (:func:`declared_extensions`): ``None``, the one extension, or a :class:`CompositeExtension` of several."""
    parts = []
    for target in declared_extensions(name, params):
        module, _, cls = target.partition(":")
        try:
            parts.append(getattr(importlib.import_module(module), cls)())
        except (ImportError, AttributeError) as err:
            raise ValueError(
                f"curriculum {name!r} declares extension {target!r}, which cannot be imported: {err}"
            ) from err
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else CompositeExtension(parts)
