"""``CurriculumTrainerSync``: verl 0.9.1's V1 sync trainer driving any registered curriculum.

Nothing of verl's loop is copied. Overridden hooks (each calls ``super`` unless noted):

- ``_build_replay_buffer``: an :class:`AllowListReplayBuffer` (sample exactly the committed groups, any count).
- ``_setup``: build the curriculum from the dataset size, then let an extension add worker groups (PCL).
- ``on_init_end``: the extension acts while the rollout still sleeps (PCL's first pick), then super wakes it.
- ``prepare_step`` (replaces super's single dispatch): the curriculum's ``run_step`` generates and commits
  through :class:`TQRolloutContext`.
- ``step``: after super's update, read the trained groups' rewards from TransferQueue and ``observe``.
- ``_compute_advantage``: before super, measure the group sizes that reach the advantage
  (``curriculum/group_size_*``) and refuse a group of one response (specs/verl-0.9.1.md §2.3).
- ``_save_checkpoint`` / ``_load_checkpoint``: ``curriculum_state.pt`` written before verl's tracker file,
  read back from the resumed step folder.
- ``_compute_metrics``: adds the papers' "Time" clock, ``time/train_gen_hours``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import transfer_queue as tq
from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

from verl_ext.curriculum.base import Curriculum, Group
from verl_ext.trainer.buffer import AllowListReplayBuffer
from verl_ext.trainer.config import CurriculumSection, build_from_config, section_from_config
from verl_ext.trainer.context import PARTITION, TQRolloutContext, rewards_by_uid
from verl_ext.trainer.extension import TrainerExtension, build_extension
from verl_ext.trainer.metrics import (
    check_group_sizes,
    group_size_metrics,
    group_sizes,
    optimizer_steps,
    shared_step_metrics,
)

logger = logging.getLogger(__name__)

__all__ = ["CurriculumTrainerSync", "check_index_alignment", "state_digest"]


def check_index_alignment(extra_info: list[Any]) -> None:
    """The data contract: ``extra_info.index`` equals the row position. Raise naming the first bad rows."""
    bad = [i for i, e in enumerate(extra_info) if not isinstance(e, dict) or e.get("index") != i]
    if bad:
        raise ValueError(
            f"{len(bad)} training rows have extra_info.index != row position (first rows: {bad[:10]}); curriculum "
            "state is keyed by that index: re-prepare the data with scripts/prepare_data.py"
        )


def _feed(h: Any, obj: Any) -> None:
    """Feed a canonical byte encoding of ``obj`` (nested mappings, sequences, arrays, scalars) into hash ``h``."""
    if isinstance(obj, Mapping):
        h.update(b"{")
        for key in sorted(obj, key=str):
            h.update(repr(key).encode())
            _feed(h, obj[key])
        h.update(b"}")
    elif isinstance(obj, list | tuple):
        h.update(b"[")
        for item in obj:
            _feed(h, item)
        h.update(b"]")
    elif isinstance(obj, np.ndarray | torch.Tensor):
        arr = obj.detach().cpu().numpy() if isinstance(obj, torch.Tensor) else obj
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    else:
        h.update(repr(obj).encode())


def state_digest(state: Mapping[str, Any]) -> str:
    """sha256 (16 hex) of a curriculum ``state_dict``: dict keys sorted, arrays by dtype, shape and bytes.

    Logged at the start of every step, so a resumed run can be checked against the run that wrote its checkpoint.
    """
    h = hashlib.sha256()
    _feed(h, state)
    return h.hexdigest()[:16]


class CurriculumTrainerSync(PPOTrainerSync):
    """The one trainer of every recipe (DESIGN.md §2)."""

    def __init__(self, config) -> None:
        self.section: CurriculumSection = section_from_config(config)
        super().__init__(config)
        self.curriculum: Curriculum | None = None
        self.extension: TrainerExtension | None = build_extension(self.section.name)
        self._ctx: TQRolloutContext | None = None
        self._prepare_metrics: dict[str, float] = {}
        self._group_metrics: dict[str, float] = {}
        self._train_gen_seconds = 0.0
        self._resumed_dir: str | None = None
        self._group_aliases: dict[str, str] = {}

    # ------------------------------------------------------------------ construction
    def _build_replay_buffer(self) -> AllowListReplayBuffer:
        # verl's custom-sampler constructor contract (trainer_base._build_replay_buffer); no DAPO filtering:
        # check_trainer_config refuses filter_groups with a curriculum.
        sampler = self.config.trainer.v1.sampler
        return AllowListReplayBuffer(
            trainer_mode=self.trainer_mode,
            trainer_config=self.config.trainer.v1.get(self.trainer_mode, {}),
            max_off_policy_threshold=sampler.max_off_policy_threshold,
            max_off_policy_strategy=sampler.max_off_policy_strategy,
            sampler_kwargs=sampler.sampler_kwargs,
            refill_fn=self._add_prompts_to_generate,
            poll_interval=0.1,
        )

    def _ensure_curriculum(self) -> Curriculum:
        if self.curriculum is None:
            check_index_alignment(list(self.train_dataset.dataframe["extra_info"]))
            self.curriculum = build_from_config(
                self.section,
                batch_size=int(self.config.data.train_batch_size),
                n=int(self.config.actor_rollout_ref.rollout.n),
                num_prompts=len(self.train_dataset),
            )
            logger.info("curriculum %s over %d prompts", self.section.name, len(self.train_dataset))
        return self.curriculum

    def _setup(self) -> None:
        super()._setup()  # ends with _load_checkpoint (which builds and restores the curriculum)
        self._ensure_curriculum()
        if self.extension is not None:
            self.extension.setup(self)
            if self._resumed_dir is not None:
                self.extension.load(self, self._resumed_dir)

    def on_init_end(self) -> None:
        if self.extension is not None:
            self.extension.on_init_end(self)
        super().on_init_end()

    # ------------------------------------------------------------------ the step
    def prepare_step(self) -> dict:
        scorer = self.extension.score if self.extension is not None else None
        self._ctx = TQRolloutContext(self, scorer=scorer, aliases=self._group_aliases)
        curriculum = self._ensure_curriculum()
        # The state this step's choice is a function of (a resumed step must log what the uninterrupted run did).
        logger.info("curriculum step %d state %s", self.global_steps, state_digest(curriculum.state_dict()))
        t0 = time.perf_counter()
        self._prepare_metrics = dict(curriculum.run_step(self._ctx))
        self._prepare_metrics["curriculum/select_s"] = time.perf_counter() - t0 - self._ctx.log.gen_seconds
        # Returned metrics would be sample-weighted by verl's aggregator; they are merged in ``step`` instead.
        return {}

    def step(self, metrics: dict, timing_raw: dict) -> KVBatchMeta:
        batch = super().step(metrics, timing_raw)
        assert self._ctx is not None and self.curriculum is not None
        t0 = time.perf_counter()
        trained, gen_tokens = self._read_trained(batch)
        log = self._ctx.log
        screened = [g for h, g in log.generated.items() if h in set(log.released)]
        metrics.update(self._prepare_metrics)
        metrics.update(self._group_metrics)
        metrics.update(self.curriculum.observe(trained, screened))
        metrics.update(
            shared_step_metrics(
                trained, list(log.generated.values()), log.rounds, log.prompts, log.responses, gen_tokens
            )
        )
        sampler = getattr(self.curriculum, "sampler", None)
        if sampler is not None:
            metrics["curriculum/data_epoch"] = float(sampler.data_epoch)
        metrics["curriculum/observe_s"] = time.perf_counter() - t0
        actor = self.config.actor_rollout_ref.actor
        metrics["curriculum/padding_rows"] = float(sum(t.get("is_padding", False) for t in batch.tags))
        metrics["curriculum/optimizer_steps"] = float(
            optimizer_steps(
                len(batch.keys), actor.ppo_mini_batch_size, self.config.actor_rollout_ref.rollout.n, actor.ppo_epochs
            )
        )
        if self.extension is not None:
            metrics.update(self.extension.after_step(self, trained))
        return batch

    def _read_trained(self, batch: KVBatchMeta) -> tuple[list[Group], int]:
        """Committed groups with their rewards, read from TransferQueue (padding rows skipped)."""
        keep = [(k, t) for k, t in zip(batch.keys, batch.tags) if not t.get("is_padding", False)]
        keys = [k for k, _ in keep]
        gen_tokens = int(sum(t.get("response_len", 0) for _, t in keep))
        if not keys:
            return [], 0
        td = tq.kv_batch_get(keys=keys, partition_id=PARTITION, select_fields=["uid", "index", "rm_scores"])
        uids = [str(u) for u in td["uid"]]
        index_of = dict(zip(uids, (int(i) for i in td["index"])))
        grouped = rewards_by_uid(keys, uids, td["rm_scores"])
        groups = [Group(handle=u, index=index_of[u], rewards=np.asarray(r, dtype=float)) for u, r in grouped.items()]
        return groups, gen_tokens

    def _compute_advantage(self, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        """Measure and check the GRPO groups of the batch about to get advantages, then let verl compute them."""
        keep = [k for k, t in zip(batch.keys, batch.tags) if not t.get("is_padding", False)]
        td = tq.kv_batch_get(keys=keep, partition_id=batch.partition_id, select_fields=["uid", "index"])
        uids = [str(u) for u in td["uid"]]
        sizes = group_sizes(keep, uids)
        check_group_sizes(
            sizes,
            self.config.algorithm.adv_estimator,
            self.section.name,
            self._ensure_curriculum().allows_singleton_groups,
        )
        self._group_metrics = group_size_metrics(sizes)
        index_of = dict(zip(uids, (int(i) for i in td["index"])))
        trained = " ".join(f"{i}:{n}" for i, n in sorted((index_of[u], n) for u, n in sizes.items()))
        logger.info("curriculum step %d trains index:size %s", self.global_steps, trained)
        return super()._compute_advantage(batch, metrics)

    def _compute_metrics(self, batch, metrics, timing_raw, global_steps, epoch):
        super()._compute_metrics(batch, metrics, timing_raw, global_steps=global_steps, epoch=epoch)
        # The papers' "Time": training + generation, checkpoint saving and validation excluded.
        self._train_gen_seconds += float(timing_raw.get("step", 0.0)) - float(timing_raw.get("save_checkpoint", 0.0))
        metrics["time/train_gen_hours"] = self._train_gen_seconds / 3600.0

    # ------------------------------------------------------------------ checkpoints
    def _step_dir(self, step: int) -> str:
        root = self.config.trainer.default_local_dir
        if not os.path.isabs(root):
            root = os.path.join(os.getcwd(), root)
        return os.path.join(root, f"global_step_{step}")

    def _fingerprint(self) -> dict[str, Any]:
        extra = self.train_dataset.dataframe["extra_info"]
        digest = hashlib.sha256(np.asarray([e["index"] for e in extra], dtype=np.int64).tobytes()).hexdigest()
        return {"name": self.section.name, "params": dict(self.section.params), "pool": len(extra), "index": digest}

    def _save_checkpoint(self) -> None:
        step_dir = self._step_dir(self.global_steps)
        os.makedirs(step_dir, exist_ok=True)
        state = {
            "curriculum": self._ensure_curriculum().state_dict(),
            "global_steps": self.global_steps,
            "train_gen_seconds": self._train_gen_seconds,
            "fingerprint": self._fingerprint(),
        }
        path = os.path.join(step_dir, self.section.state_file)
        torch.save(state, path + ".tmp")
        os.replace(path + ".tmp", path)
        if self.extension is not None:
            self.extension.save(self, step_dir)
        super()._save_checkpoint()  # verl writes its tracker file last

    def _load_checkpoint(self) -> None:
        super()._load_checkpoint()
        if self.global_steps == 0:
            return
        if self.config.trainer.resume_mode == "resume_path":
            step_dir = os.path.abspath(self.config.trainer.resume_from_path)
        else:
            step_dir = self._step_dir(self.global_steps)
        path = os.path.join(step_dir, self.section.state_file)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"resuming from {step_dir} but it has no {self.section.state_file}: it was not written by the "
                "curriculum trainer; start fresh (trainer.resume_mode=disable) or point at a curriculum checkpoint"
            )
        state = torch.load(path, weights_only=False)
        fingerprint = self._fingerprint()
        if state["fingerprint"] != fingerprint:
            raise ValueError(
                f"checkpoint {path} was written for {state['fingerprint']} but this run is {fingerprint}: "
                "resume with the same curriculum settings and data.train_files"
            )
        self._ensure_curriculum().load_state_dict(state["curriculum"])
        self._train_gen_seconds = float(state["train_gen_seconds"])
        self._resumed_dir = step_dir
        logger.info("curriculum state restored from %s", path)
