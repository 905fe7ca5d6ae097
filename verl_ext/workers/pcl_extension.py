"""PCL's trainer extension: the value worker group and the value half of Algorithm 1 (docs/pcl.md §3, §6).

Declared by ``PclCurriculum.extension``, called by :class:`verl_ext.trainer.trainer.CurriculumTrainerSync`. All
value-model work runs while the rollout engine sleeps:

- ``setup`` (end of ``_setup``): value ``TrainingWorker`` group on the global pool, ``reset()``, ``set_loss_fn``.
- ``load``: ``<step_dir>/pcl_value`` (the curriculum's ``pending``/RNG/pass come from ``curriculum_state.pt``), then
  checks the restored parameters against the digest written at save time.
- ``on_init_end`` (before the first weight push wakes the rollout): first pick with V^{π_-1} unless resumed with
  a pending selection.
- ``after_step`` (after the policy update, rollout asleep): one AdamW step of V on the m trained prompts' ȳ
  (V^{π_{t-1}} → V^{π_t}), then ``select_next``: k·m candidates, one forward, keep m → step t+1's batch.
- ``save``: ``<step_dir>/pcl_value`` (plus ``param_digest.json``) before the trainer writes verl's tracker file.

The value model's parameter digest (:meth:`ValueWorkerGroup.param_digest`) is logged after initialisation, after
each save and after a resume's load, so a log shows which weights a run started from and that a resume continued
from exactly the saved ones.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from verl_ext.curriculum.base import Group
from verl_ext.curriculum.pcl import PclCurriculum, mse_loss, value_targets
from verl_ext.workers.prompts import PromptEncoder
from verl_ext.workers.value_worker import (
    DEFAULT_HEAD_INIT_VALUE,
    ValueWorkerGroup,
    build_worker_config,
    create_value_worker_group,
    split_value_model_node,
)

if TYPE_CHECKING:
    from verl_ext.trainer.extension import ExtensionHandle

logger = logging.getLogger(__name__)

__all__ = ["DIGEST_FILE", "PCLExtension", "VALUE_CHECKPOINT_DIR"]

VALUE_CHECKPOINT_DIR = "pcl_value"
# written next to verl's shards in <step_dir>/pcl_value: {"sha256": ..., "global_step": ...}
DIGEST_FILE = "param_digest.json"


class PCLExtension:
    """The value model of PCL behind the trainer's extension protocol (``verl_ext.trainer.extension``)."""

    def __init__(self) -> None:
        self.value: ValueWorkerGroup | None = None
        self.encoder: PromptEncoder | None = None
        self._handle: ExtensionHandle | None = None

    # ------------------------------------------------------------------ construction
    def setup(self, handle: ExtensionHandle) -> None:
        """Create and initialise the value worker group on the trainer's global resource pool."""
        config = handle.config
        critic_cfg, head_activation = split_value_model_node(
            config.curriculum.get("value_model"), actor_model_path=config.actor_rollout_ref.model.path
        )
        pools = handle.resource_pools
        if "global_pool" not in pools:
            raise KeyError(f"no 'global_pool' in the trainer's resource pools {sorted(pools)}; PCL colocates there")
        worker_group = create_value_worker_group(
            pools["global_pool"], build_worker_config(critic_cfg), device_name=config.trainer.device
        )
        head_init = config.curriculum.value_model.get("head_init_value", DEFAULT_HEAD_INIT_VALUE)
        value = ValueWorkerGroup(worker_group, head_activation, seed=int(config.curriculum.seed), head_init=head_init)
        self.attach(handle, value)
        t0 = time.perf_counter()
        self.value.initialize()
        logger.info(
            "PCL value worker group ready (dp=%d) in %.1f s; parameter sha256 %s",
            self.value.dp_size,
            time.perf_counter() - t0,
            self.value.param_digest(),
        )

    def attach(self, handle: ExtensionHandle, value: ValueWorkerGroup) -> None:
        """Bind an existing value group and the prompt encoder (``setup`` without creating workers; tests)."""
        data = handle.config.data
        self._handle = handle
        self.value = value
        self.encoder = PromptEncoder(
            handle.tokenizer,
            handle.train_dataset,
            chat_template_kwargs=data.get("apply_chat_template_kwargs", None),
            chat_template=handle.config.actor_rollout_ref.model.get("custom_chat_template", None),
        )

    # ------------------------------------------------------------------ checkpoints
    def save(self, handle: ExtensionHandle, step_dir: str) -> None:
        """Value model + optimizer into ``<step_dir>/pcl_value``, and the parameter digest next to them."""
        value = self._require()
        path = os.path.join(step_dir, VALUE_CHECKPOINT_DIR)
        step = int(handle.global_steps)
        value.save(path, global_step=step)
        digest = value.param_digest()
        with open(os.path.join(path, DIGEST_FILE), "w") as f:
            json.dump({"sha256": digest, "global_step": step, "dp_size": value.dp_size}, f)
        logger.info("PCL value model saved to %s at step %d; parameter sha256 %s", path, step, digest)

    def load(self, handle: ExtensionHandle, step_dir: str) -> None:
        """Restore the value model written by :meth:`save` in the resumed step folder and verify it bit-exactly.

        Raises ``RuntimeError`` when the restored parameters' digest differs from the one recorded at save time
        (a checkpoint without a digest file is loaded with a warning).
        """
        path = os.path.join(step_dir, VALUE_CHECKPOINT_DIR)
        if not os.path.isdir(path):
            raise FileNotFoundError(
                f"resuming PCL from {step_dir} but {path} is missing: the value model was not saved there; "
                "start fresh (trainer.resume_mode=disable) or resume from a PCL checkpoint"
            )
        value = self._require()
        value.load(path)
        digest = value.param_digest()
        digest_path = os.path.join(path, DIGEST_FILE)
        if not os.path.isfile(digest_path):
            logger.warning("PCL value model restored from %s (no %s to verify it against); parameter sha256 %s",
                           path, DIGEST_FILE, digest)  # fmt: skip
            return
        with open(digest_path) as f:
            saved = json.load(f)
        if saved["sha256"] != digest:
            raise RuntimeError(
                f"the value model restored from {path} differs from the one saved there at step "
                f"{saved['global_step']} (parameter sha256 {digest} != {saved['sha256']}; saved with dp="
                f"{saved.get('dp_size')}, now dp={value.dp_size}): resume with the same number of value workers, "
                "or the checkpoint is damaged"
            )
        logger.info("PCL value model restored from %s; parameter sha256 %s (equal to the saved one)", path, digest)

    # ------------------------------------------------------------------ the loop
    def on_init_end(self, handle: ExtensionHandle) -> None:
        """First selection with the untrained head (V^{π_-1}) unless a resumed state already holds one."""
        curriculum = self._curriculum(handle)
        if curriculum.pending is None:
            self._select(handle, curriculum)

    def after_step(self, handle: ExtensionHandle, trained: Sequence[Group]) -> dict[str, float]:
        """Train V on this step's (prompt, ȳ) pairs, then select step t+1's prompts (docs/pcl.md §6).

        Returns ``pcl/value/{loss,grad_norm}`` and ``pcl/time/{value_train_s,value_score_s}`` (with
        ``rescore_trained`` also ``pcl/value/mse_after`` and ``pcl/time/value_rescore_s``); the selection's
        ``pcl/select/*`` metrics are logged by the curriculum at the step that trains the selection. The step's
        targets (and rescored predictions) are added to its selection record.
        """
        curriculum = self._curriculum(handle)
        metrics: dict[str, float] = {}
        idx, ybar = value_targets(trained)
        rescore = bool(curriculum.config.rescore_trained) and idx.size > 0
        before = after = None
        rescore_s = 0.0
        if rescore:
            t0 = time.perf_counter()
            before = self.score(idx)
            rescore_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        if idx.size:
            metrics.update(self._require().train(self._encode(idx), ybar))
        else:
            logger.warning("step %s trained no scored prompts; the value model is not updated", handle.global_steps)
        metrics["pcl/time/value_train_s"] = time.perf_counter() - t0
        if rescore:
            t0 = time.perf_counter()
            after = self.score(idx)
            rescore_s += time.perf_counter() - t0
            metrics["pcl/value/mse_after"] = mse_loss(after, ybar)
            metrics["pcl/time/value_rescore_s"] = rescore_s
        curriculum.record_value_step(int(handle.global_steps), idx, ybar, before, after)
        metrics["pcl/time/value_score_s"] = self._select(handle, curriculum)
        return metrics

    def score(self, indices: np.ndarray) -> np.ndarray:
        """Value predictions for dataset positions ``indices`` (shape ``(k,)``), one forward pass."""
        return self._require().score(self._encode(np.asarray(indices, dtype=np.int64)))

    # ------------------------------------------------------------------ internals
    def _select(self, handle: ExtensionHandle, curriculum: PclCurriculum) -> float:
        t0 = time.perf_counter()
        curriculum.select_next(handle.new_context(self.score))
        return time.perf_counter() - t0

    def _encode(self, indices: np.ndarray) -> list[list[int]]:
        if self.encoder is None:
            raise RuntimeError("PCLExtension.setup (or attach) must run before scoring or training")
        return self.encoder(indices)

    def _require(self) -> ValueWorkerGroup:
        if self.value is None:
            raise RuntimeError("PCLExtension.setup (or attach) must run before using the value model")
        return self.value

    @staticmethod
    def _curriculum(handle: ExtensionHandle) -> PclCurriculum:
        curriculum = handle.curriculum
        if not isinstance(curriculum, PclCurriculum):
            raise TypeError(f"the PCL extension needs curriculum.name=pcl, got {type(curriculum).__name__}")
        return curriculum
