"""PCL's value worker group behind the Beta estimators' prior (docs/value_prior.md).

Declared through the :class:`verl_ext.curriculum.value_prior.ValuePriorCapable` capability when
``curriculum.params.prior.source=value_model`` (``cures_algorithm1``, ``cures_online``, ``mopps``). It is PCL's own
extension (:class:`verl_ext.workers.pcl_extension.PCLExtension`): the same ``TrainingWorker`` value group built from
``curriculum.value_model`` in ``setup``, the same checkpoint folder (``pcl_value``) and digest checks in ``save`` /
``load``, the same online update after every step (one AdamW step of ``ValueWorkerGroup.train`` on the trained
groups' mean rewards ȳ, PCL Eq. 2 / Alg. 1 line 8). What differs:

- no selection: ``on_init_end`` does nothing and ``after_step`` only trains (the strategy chooses its prompts);
- ``score`` is called by the strategy from inside ``run_step``, with the rollout replicas awake: it puts them to sleep
  around the value model's forward (freeing their device memory for it, as CurES' gradient-norm pass does) and then
  pushes the (unchanged) actor weights to wake them;
- metrics are the strategy's: ``<prefix>/prior/value_loss``, ``value_grad_norm``, ``value_updates`` (1 when V took an
  optimizer step this step), ``value_targets`` (prompts it trained on) and ``value_train_s``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from verl_ext.curriculum.base import Group
from verl_ext.curriculum.pcl import value_targets
from verl_ext.curriculum.value_prior import ValuePriorCapable
from verl_ext.workers.pcl_extension import PCLExtension

if TYPE_CHECKING:
    from verl_ext.trainer.extension import ExtensionHandle

logger = logging.getLogger(__name__)

__all__ = ["ValuePriorExtension"]

# ValueWorkerGroup.train's keys -> the strategy's prior metrics
_RENAME = {"pcl/value/loss": "value_loss", "pcl/value/grad_norm": "value_grad_norm"}


class ValuePriorExtension(PCLExtension):
    """PCL's value model serving ``ctx.score`` for a Beta prior and trained online as in PCL."""

    def on_init_end(self, handle: ExtensionHandle) -> None:
        """Nothing: the strategy scores its prompts itself when they need a prior."""

    def after_step(self, handle: ExtensionHandle, trained: Sequence[Group]) -> dict[str, float]:
        """One value update on this step's (prompt, ȳ) pairs (PCL Alg. 1 line 8, loss of PCL Eq. 2 over m)."""
        prefix = self._prefix(handle)
        idx, ybar = value_targets(trained)
        t0 = time.perf_counter()
        metrics: dict[str, float] = {f"{prefix}/prior/value_updates": 0.0}
        if idx.size:
            raw = self._require().train(self._encode(idx), ybar)
            metrics.update({f"{prefix}/prior/{_RENAME[k]}": v for k, v in raw.items() if k in _RENAME})
            metrics[f"{prefix}/prior/value_updates"] = 1.0
        else:
            logger.warning("step %s trained no scored prompts; the value model is not updated", handle.global_steps)
        metrics[f"{prefix}/prior/value_targets"] = float(idx.size)
        metrics[f"{prefix}/prior/value_train_s"] = time.perf_counter() - t0
        return metrics

    def score(self, indices: np.ndarray) -> np.ndarray:
        """V(x) for dataset positions ``indices``, with the rollout replicas asleep during the forward."""
        handle = self._handle
        if handle is None:
            raise RuntimeError("ValuePriorExtension.setup (or attach) must run before scoring")
        handle.checkpoint_manager.sleep_replicas()
        try:
            return super().score(indices)
        finally:
            handle.checkpoint_manager.update_weights(handle.global_steps)

    @staticmethod
    def _prefix(handle: ExtensionHandle) -> str:
        curriculum = handle.curriculum
        if not isinstance(curriculum, ValuePriorCapable) or not curriculum.prior_metric_prefix:
            raise TypeError(
                f"the value-prior extension needs a strategy with the ValuePriorCapable capability, got "
                f"{type(curriculum).__name__}"
            )
        return curriculum.prior_metric_prefix
