"""``CurriculumTrainerSync``: verl 0.9.1's V1 sync trainer driving any registered curriculum.

Nothing of verl's loop is copied. Overridden hooks (each calls ``super`` unless noted):

- ``_build_replay_buffer``: an :class:`AllowListReplayBuffer` (sample exactly the committed groups, any count).
- ``_setup``: build the curriculum from the dataset size, then let an extension add worker groups (PCL).
- ``on_init_end``: the extension acts while the rollout still sleeps (PCL's first pick), then super wakes it.
- ``prepare_step`` (replaces super's single dispatch): the curriculum's ``run_step`` generates and commits
  through :class:`TQRolloutContext`.
- ``step``: after super's update, read the trained groups' rewards from TransferQueue and ``observe``; log the
  shared ``curriculum/`` metrics (pool health, coverage, wasted tokens, calibration: docs/metrics.md). The strategy's
  phases are timed with verl's ``marked_timer`` (``timing_s/curriculum_select``, ``timing_s/curriculum_observe``).
- ``_compute_advantage``: before super, measure the group sizes that reach the advantage
  (``curriculum/group_size_*``) and refuse a group of one response (docs/verl_hooks.md).
- ``_save_checkpoint`` / ``_load_checkpoint``: ``curriculum_state.pt`` (the strategy's state and the per-prompt
  :class:`PromptTracker`) written before verl's tracker file, read back from the resumed step folder.
- ``_compute_metrics``: adds the papers' "Time" clock, ``time/train_gen_hours``; ranks checkpoints by validation.
- ``on_step_begin`` / ``on_step_end``: stop on ``run.budget_hours`` (the Time clock), with a final checkpoint written
  while the rollout still sleeps (:mod:`verl_ext.trainer.stopping`). ``_save_checkpoint`` keeps the K newest step
  folders (``trainer.max_actor_ckpt_to_keep``) and the best by validation.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import transfer_queue as tq
from omegaconf import open_dict
from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync
from verl.utils.debug import marked_timer

from verl_ext.curriculum import legacy_checkpoint_message
from verl_ext.curriculum.base import Curriculum, Group
from verl_ext.curriculum.observability import PromptTracker
from verl_ext.nested.controller import NestedController, build_nested
from verl_ext.trainer.buffer import AllowListReplayBuffer
from verl_ext.trainer.config import CurriculumSection, build_from_config, section_from_config
from verl_ext.trainer.context import OBSERVE_TIMER, PARTITION, TQRolloutContext, rewards_by_uid
from verl_ext.trainer.extension import ExtensionHandle, TrainerExtension, build_extension
from verl_ext.trainer.metrics import (
    calibration_metrics,
    check_group_sizes,
    fold_generation_into_perf,
    group_size_metrics,
    group_sizes,
    optimizer_steps,
    pool_metrics,
    released_groups,
    shared_step_metrics,
)
from verl_ext.trainer.stopping import (
    StopSettings,
    apply_retention,
    read_best,
    stop_settings,
    validation_score,
    write_best,
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
    """The one trainer of every recipe (docs/verl_hooks.md)."""

    def __init__(self, config) -> None:
        self.section: CurriculumSection = section_from_config(config)
        super().__init__(config)
        self.curriculum: Curriculum | None = None
        self.extension: TrainerExtension | None = build_extension(self.section.name, self.section.params)
        # Nested-ReFT (``nested:``, verl_ext/nested): layer-skipped behaviour model, off-policy correction
        self.nested: NestedController | None = build_nested(config)
        self._ctx: TQRolloutContext | None = None
        # last observed p̂ and trained-once flag per prompt (pool health, coverage), checkpointed with the curriculum
        self.tracker: PromptTracker | None = None
        self._predicted: dict[str, float] = {}  # group handle -> predicted p at selection (calibration)
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
        if self.tracker is None:
            self.tracker = PromptTracker(len(self.train_dataset))
        return self.curriculum

    def _setup(self) -> None:
        super()._setup()  # ends with _load_checkpoint (which builds and restores the curriculum)
        self._ensure_curriculum()
        if self.extension is not None:
            self.extension.setup(self._extension_handle)
            if self._resumed_dir is not None:
                self.extension.load(self._extension_handle, self._resumed_dir)

    @functools.cached_property
    def _extension_handle(self) -> ExtensionHandle:
        """The narrow view of this trainer an extension receives (after ``_setup``: pools and workers exist)."""
        return ExtensionHandle(
            config=self.config,
            tokenizer=self.tokenizer,
            train_dataset=self.train_dataset,
            curriculum=self._ensure_curriculum(),
            resource_pools=self.resource_pool_manager.resource_pool_dict,
            actor_rollout_wg=self.actor_rollout_wg,
            checkpoint_manager=self.checkpoint_manager,
            new_context=self._new_context,
            current_step=lambda: int(self.global_steps),
        )

    def _new_context(self, scorer: Callable[[np.ndarray], np.ndarray] | None) -> TQRolloutContext:
        """A rollout context of the current step (the one factory: the step's and the extension's)."""
        timeout_s = self.section.rollout_timeout_s
        return TQRolloutContext(self, scorer=scorer, aliases=self._group_aliases, timeout_s=timeout_s)

    def on_init_end(self) -> None:
        if self.extension is not None:
            self.extension.on_init_end(self._extension_handle)
        super().on_init_end()

    # ------------------------------------------------------------------ the step
    # (trained batch response tokens as verl counts them, discarded prompt tokens, discarded response tokens)
    _perf_tokens: tuple[int, int, int] | None = None

    def prepare_step(self) -> dict:
        scorer = self.extension.score if self.extension is not None else None
        self._ctx = self._new_context(scorer)
        # verl's replay buffer waits for the committed groups in _step_once: same bound, same diagnostic
        self.replay_buffer.bound_wait(self.section.rollout_timeout_s, describe=self._ctx.describe_pending)
        curriculum = self._ensure_curriculum()
        # The state this step's choice is a function of (a resumed step must log what the uninterrupted run did).
        logger.info("curriculum step %d state %s", self.global_steps, state_digest(curriculum.state_dict()))
        if self.nested is not None:  # this step's skip set S on every rollout server, before any generation
            self.nested.before_generation(self)
        timing_raw = self.__dict__.setdefault("timing_raw", {})  # verl's fit sets it per step
        with self._ctx.selecting(timing_raw):
            self._prepare_metrics = dict(curriculum.run_step(self._ctx))
            self._predicted = self._predict(curriculum, self._ctx)
        # Returned metrics would be sample-weighted by verl's aggregator; they are merged in ``step`` instead.
        return {}

    def _predict(self, curriculum: Curriculum, ctx: TQRolloutContext) -> dict[str, float]:
        """``{committed handle: p}`` from ``curriculum.predicted_success`` at selection, before ``observe``."""
        idx = np.asarray(ctx.log.committed_indices, dtype=np.int64)
        pred = curriculum.predicted_success(idx)
        if pred is None:
            return {}
        p = np.asarray(pred, dtype=np.float64)
        if p.shape != idx.shape or not np.all((p >= 0.0) & (p <= 1.0)):
            raise ValueError(
                f"curriculum {self.section.name!r}: predicted_success returned shape {p.shape} for {idx.size} "
                f"prompts, values {p[:5].tolist()}...; it must return one probability in [0, 1] per index, or None"
            )
        return dict(zip(ctx.log.committed, p.tolist(), strict=True))

    def step(self, metrics: dict, timing_raw: dict) -> KVBatchMeta:
        batch = super().step(metrics, timing_raw)
        with marked_timer(OBSERVE_TIMER, timing_raw, color="purple"):
            trained = self._observe(batch, metrics)
        actor = self.config.actor_rollout_ref.actor
        metrics["curriculum/padding_rows"] = float(sum(t.get("is_padding", False) for t in batch.tags))
        metrics["curriculum/optimizer_steps"] = float(
            optimizer_steps(
                len(batch.keys), actor.ppo_mini_batch_size, self.config.actor_rollout_ref.rollout.n, actor.ppo_epochs
            )
        )
        if self.extension is not None:
            metrics.update(self.extension.after_step(self._extension_handle, trained))
        return batch

    def _observe(self, batch: KVBatchMeta, metrics: dict) -> list[Group]:
        """Read the trained groups' rewards back, ``observe``, and the shared ``curriculum/`` metrics; returns the
        trained groups with their rewards."""
        assert self._ctx is not None and self.curriculum is not None and self.tracker is not None
        trained, gen_tokens, tokens_of = self._read_trained(batch)
        log = self._ctx.log
        screened = released_groups(log.generated, log.released)
        metrics.update(self._prepare_metrics)
        metrics.update(self._group_metrics)
        observed, screened_observed = trained, screened
        if self.nested is not None:  # statistics of mu_S vs pi, full model back on; what the curriculum may see
            nested_metrics, nested_data = self.nested.after_step(self, batch)
            metrics.update(nested_metrics)
            observed, screened_observed = self.nested.feedback(trained, screened, nested_data)
        metrics.update(self.curriculum.observe(observed, screened_observed))
        metrics.update(
            shared_step_metrics(
                trained,
                list(log.generated.values()),
                log.rounds,
                log.prompts,
                log.responses,
                gen_tokens + log.released_response_tokens,
                # groups submitted without waiting are awaited once more, by verl's replay buffer in _step_once
                waves=log.waves + int(log.submitted),
                trained_tokens=[tokens_of.get(g.handle, 0) for g in trained],
            )
        )
        self.tracker.update(trained, screened)
        metrics.update(pool_metrics(self.tracker))
        metrics.update(calibration_metrics(trained, self._predicted))
        # verl's throughput keys count the trained batch only; _compute_metrics adds the discarded rollouts
        self._perf_tokens = (
            int(sum(int(t.get("response_len", 0)) for t in batch.tags)),
            log.released_prompt_tokens,
            log.released_response_tokens,
        )
        if self.curriculum.data_epoch is not None:
            metrics["curriculum/data_epoch"] = float(self.curriculum.data_epoch)
        return trained

    def _read_trained(self, batch: KVBatchMeta) -> tuple[list[Group], int, dict[str, int]]:
        """Committed groups with their rewards, read from TransferQueue (padding rows skipped), the response tokens
        of the batch, and the response tokens of each group (``{uid: tokens}``, from the batch tags)."""
        keep = [(k, t) for k, t in zip(batch.keys, batch.tags) if not t.get("is_padding", False)]
        keys = [k for k, _ in keep]
        gen_tokens = int(sum(t.get("response_len", 0) for _, t in keep))
        if not keys:
            return [], 0, {}
        td = tq.kv_batch_get(keys=keys, partition_id=PARTITION, select_fields=["uid", "index", "rm_scores"])
        uids = [str(u) for u in td["uid"]]
        index_of = dict(zip(uids, (int(i) for i in td["index"])))
        grouped = rewards_by_uid(keys, uids, td["rm_scores"])
        groups = [Group(handle=u, index=index_of[u], rewards=np.asarray(r, dtype=float)) for u, r in grouped.items()]
        tokens_of: dict[str, int] = {}
        for uid, (_, tag) in zip(uids, keep, strict=True):
            tokens_of[uid] = tokens_of.get(uid, 0) + int(tag.get("response_len", 0) or 0)
        return groups, gen_tokens, tokens_of

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
        if self._budget_stop and "testing" not in timing_raw and int(self.config.trainer.test_freq) > 0:
            # verl validates its last step; a budget stop is the last step too (outside the Time clock)
            with marked_timer("testing", timing_raw, color="green"):
                self.on_validate_begin()
                val_metrics = self._validate()
                self.on_validate_end()
            metrics.update(val_metrics)
        super()._compute_metrics(batch, metrics, timing_raw, global_steps=global_steps, epoch=epoch)
        if self._perf_tokens is not None:  # screening/surplus tokens into verl's own throughput keys
            n_gpus = self._get_n_gpus_for_throughput()
            metrics.update(fold_generation_into_perf(metrics, timing_raw, n_gpus, *self._perf_tokens))
        # The papers' "Time": training + generation, checkpoint saving and validation excluded.
        self._train_gen_seconds += float(timing_raw.get("step", 0.0)) - float(timing_raw.get("save_checkpoint", 0.0))
        self._step_t0 = None  # this step is in the clock now
        metrics["time/train_gen_hours"] = self._train_gen_seconds / 3600.0
        if self.stop.budget_seconds is not None:
            metrics["time/budget_used"] = self._train_gen_seconds / self.stop.budget_seconds
        if self._budget_stop:
            metrics["time/budget_stop"] = 1.0
        self._track_best(metrics, saved="save_checkpoint" in timing_raw)

    # ------------------------------------------------------------------ stop and keep
    _step_t0: float | None = None  # perf_counter at on_step_begin; None between steps
    _budget_stop: bool = False  # the budget ended the run (set at the step that reached it, or at a spent resume)
    _saved_clock: tuple[int, float] | None = None  # (step, Time clock in s) written by the last _save_checkpoint

    @functools.cached_property
    def stop(self) -> StopSettings:
        """``run.budget_hours`` and the checkpoint retention settings (validated; see ``verl_ext.trainer.stopping``)."""
        return stop_settings(self.config)

    def _clock_now(self) -> float:
        """The Time clock in seconds up to now: finished steps, plus this step so far minus its checkpoint saving."""
        if self._step_t0 is None:
            return self._train_gen_seconds
        timing = self.__dict__.get("timing_raw", {})
        elapsed = time.perf_counter() - self._step_t0 - float(timing.get("save_checkpoint", 0.0))
        return self._train_gen_seconds + elapsed

    def on_step_begin(self) -> None:
        self._step_t0 = time.perf_counter()
        super().on_step_begin()

    def on_step_end(self) -> None:
        """Stop on the budget before super wakes the rollout, so the final checkpoint is written while it sleeps.

        verl's loop (``trainer_base.fit``) runs while ``global_steps <= total_training_steps``: setting
        ``total_training_steps`` to this step ends it after this step's validation and metrics, as at its own
        last step (``fit`` itself is not overridden).
        """
        if not self._budget_stop and self.stop.budget_seconds is not None:
            timing = self.__dict__.get("timing_raw", {})
            saved_now = self._saved_clock is not None and self._saved_clock[0] == self.global_steps
            # when verl saved this step, decide on the clock that checkpoint recorded (a resume sees the same value)
            clock = self._saved_clock[1] if saved_now and "save_checkpoint" in timing else self._clock_now()
            if self.stop.budget_reached(clock):
                self._stop_on_budget(clock, timing)
        super().on_step_end()

    def _stop_on_budget(self, clock: float, timing: dict) -> None:
        self._budget_stop = True
        saved = "save_checkpoint" in timing
        save_freq = int(self.config.trainer.save_freq)
        if not saved and save_freq > 0:
            with marked_timer("save_checkpoint", timing, color="green"):
                self._save_checkpoint()
            saved = True
        where = (
            f"final checkpoint {self._step_dir(self.global_steps)}"
            if saved
            else f"no final checkpoint (trainer.save_freq={save_freq} disables saving)"
        )
        logger.info(
            "stopping at step %d: run.budget_hours=%g reached (Time clock %.4f h = training + generation, validation "
            "and checkpoint saving excluded); %s",
            self.global_steps,
            self.stop.budget_hours,
            clock / 3600.0,
            where,
        )
        self.total_training_steps = self.global_steps  # fit's loop condition: no step after this one

    def _ckpt_root(self) -> str:
        return os.path.dirname(self._step_dir(0))

    @contextlib.contextmanager
    def _worker_retention_off(self):
        """verl's workers delete old ``actor/``/``critic/`` sub-folders themselves (from a list a restart forgets, and
        never the best): hand them no limit during the save; :meth:`_save_checkpoint` applies it to whole folders."""
        trainer = self.config.trainer
        keys = ("max_actor_ckpt_to_keep", "max_critic_ckpt_to_keep")
        saved = {k: trainer.get(k) for k in keys}
        with open_dict(trainer):
            for k in keys:
                trainer[k] = None
        try:
            yield
        finally:
            with open_dict(trainer):
                for k, v in saved.items():
                    trainer[k] = v

    def _best_step(self) -> int | None:
        """The step of the best-validation checkpoint kept beside the K newest (``None``: none or not kept)."""
        if not self.stop.keep_best:
            return None
        best = read_best(self._ckpt_root())
        if best is None or int(best["step"]) > self.global_steps:  # a later run's record (resumed from earlier)
            return None
        return int(best["step"])

    def _track_best(self, metrics: dict, saved: bool) -> None:
        """After a validation at a step whose checkpoint was written: record it if it is the best so far."""
        if not (self.stop.keep_best and saved):
            return
        score = validation_score(metrics, self.stop.best_metric)
        if score is None:
            return
        root = self._ckpt_root()
        best = read_best(root)
        if best is not None and self._best_step() is not None and float(best["score"]) >= score:
            return
        write_best(root, self.global_steps, score, self.stop.best_metric)
        logger.info("best validation so far: step %d, score %.4f (%s kept)", self.global_steps, score,
                    self._step_dir(self.global_steps))  # fmt: skip
        apply_retention(root, self.global_steps, self.stop.keep_last, protect=[self.global_steps])

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
        clock = self._clock_now()  # this step included up to now: a resume continues the budget from here
        self._saved_clock = (int(self.global_steps), clock)
        state = {
            "curriculum": self._ensure_curriculum().state_dict(),
            "prompt_tracker": self.tracker.state_dict() if self.tracker is not None else None,
            "global_steps": self.global_steps,
            "train_gen_seconds": clock,
            "fingerprint": self._fingerprint(),
        }
        path = os.path.join(step_dir, self.section.state_file)
        torch.save(state, path + ".tmp")
        os.replace(path + ".tmp", path)
        if self.extension is not None:
            self.extension.save(self._extension_handle, step_dir)
        if self.nested is not None:
            self.nested.save(step_dir)
        with self._worker_retention_off():
            super()._save_checkpoint()  # verl writes its tracker file last
        best = self._best_step()
        apply_retention(self._ckpt_root(), self.global_steps, self.stop.keep_last, [] if best is None else [best])

    def _load_tracker(self, state: Mapping[str, Any] | None, path: str) -> None:
        """Restore the per-prompt tracker; a checkpoint written before it existed restarts it (logged)."""
        self._ensure_curriculum()
        assert self.tracker is not None
        if state is None:
            logger.warning(
                "%s has no prompt_tracker (written before pool health was tracked): curriculum/pool/* and coverage "
                "count from this resume on",
                path,
            )
            return
        self.tracker.load_state_dict(state)

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
            saved = state["fingerprint"]
            renamed = legacy_checkpoint_message(saved.get("name", ""), saved.get("params"))  # old CurES name
            raise ValueError(
                f"checkpoint {path} was written for {saved} but this run is {fingerprint}: "
                + (renamed or "resume with the same curriculum settings and data.train_files")
            )
        self._ensure_curriculum().load_state_dict(state["curriculum"])
        self._load_tracker(state.get("prompt_tracker"), path)
        if self.nested is not None:
            self.nested.load(step_dir)
        self._train_gen_seconds = float(state["train_gen_seconds"])
        self._resumed_dir = step_dir
        logger.info("curriculum state restored from %s", path)
        if self.stop.budget_reached(self._train_gen_seconds):
            # Decision: a resume of a run whose budget is spent stops at once (exit 0, e.g. a requeued job);
            # raising run.budget_hours on the command line continues it (the clock is the checkpoint's).
            self._budget_stop = True
            self.total_training_steps = self.global_steps
            with open_dict(self.config.trainer):
                self.config.trainer.val_before_train = False
            logger.info(
                "run.budget_hours=%g already spent at step %d (Time clock %.4f h): nothing left to train, stopping "
                "without validation; override run.budget_hours with a larger value to continue this run",
                self.stop.budget_hours,
                self.global_steps,
                self._train_gen_seconds / 3600.0,
            )
