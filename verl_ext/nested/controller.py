"""Nested-ReFT inside the curriculum trainer: draw S per step, set it on the rollout servers, measure and correct.

Called by :class:`verl_ext.trainer.trainer.CurriculumTrainerSync` at four points (``nested:`` in the config):

- ``before_generation`` (start of ``prepare_step``): S_t = schedule.draw(); every rollout server generates with the
  layers of S_t skipped (``hf``: ``HFRolloutServer.set_skip_layers``; ``vllm``: ``collective_rpc`` of the worker
  method :data:`verl_ext.nested.vllm_plugin.SET_SKIP_RPC`, then a prefix-cache reset; GPU path by reading).
- ``after_step`` (after verl's update): behaviour-target KL and importance-weight statistics from the batch's
  ``rollout_log_probs`` (mu_S) and ``old_log_probs`` (pi_theta, recomputed by the actor), a recomputation check of
  the IS weights verl handed the loss, generation tokens/s; then S = {} so validation uses the full model.
- ``feedback``: what the curriculum observes (``nested.curriculum_feedback``): ``importance_weighted`` (default)
  replaces each group's rewards by self-normalised IS-weighted successes; ``full_model_only`` lets the curriculum
  observe only steps generated with S = {} (needs ``nested.schedule.full_every > 0``).
- ``save`` / ``load``: the schedule's RNG in ``nested_state.pt`` of the step folder.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from typing import Any

import torch

from verl_ext.curriculum.base import Group
from verl_ext.nested.correction import (
    FEEDBACK_MODES,
    VARIANTS,
    behaviour_stats,
    check_rollout_correction,
    importance_weighted_rewards,
    sequence_log_ratios,
    truncated_token_weights,
)
from verl_ext.nested.schedule import SkipSchedule, SkipScheduleConfig

logger = logging.getLogger(__name__)

__all__ = ["NestedConfig", "NestedController", "build_nested", "nested_config"]

ROLLOUTS = ("hf", "vllm")


@dataclasses.dataclass
class NestedConfig:
    """``nested:`` -- the skip schedule, the correction variant, what the curriculum observes."""

    schedule: SkipScheduleConfig = dataclasses.field(default_factory=SkipScheduleConfig)
    correction: str = "token_tis"
    curriculum_feedback: str = "importance_weighted"
    state_file: str = "nested_state.pt"

    def __post_init__(self) -> None:
        if isinstance(self.schedule, dict):
            self.schedule = SkipScheduleConfig(**self.schedule)
        if self.correction not in VARIANTS:
            raise ValueError(f"nested.correction={self.correction!r}; valid: {', '.join(VARIANTS)}")
        if self.curriculum_feedback not in FEEDBACK_MODES:
            raise ValueError(
                f"nested.curriculum_feedback={self.curriculum_feedback!r}; valid: {', '.join(FEEDBACK_MODES)}"
            )
        if (
            self.curriculum_feedback == "full_model_only"
            and self.schedule.skip_ratio > 0
            and not self.schedule.full_every
        ):
            raise ValueError(
                "nested.curriculum_feedback=full_model_only needs full-model steps: set "
                "nested.schedule.full_every >= 1 (or use importance_weighted)"
            )


def nested_config(config: Any) -> NestedConfig | None:
    """The validated ``nested:`` section of a composed config (``None`` when absent), checked against verl's keys."""
    section = config.get("nested") if hasattr(config, "get") else None
    if section is None:
        return None
    from omegaconf import OmegaConf

    raw = OmegaConf.to_container(section, resolve=True) if not isinstance(section, dict) else dict(section)
    known = {f.name for f in dataclasses.fields(NestedConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"nested: unknown keys {unknown}; valid: {sorted(known)}")
    sched = raw.get("schedule") or {}
    sk = {f.name for f in dataclasses.fields(SkipScheduleConfig)}
    if set(sched) - sk:
        raise ValueError(f"nested.schedule: unknown keys {sorted(set(sched) - sk)}; valid: {sorted(sk)}")
    cfg = NestedConfig(**raw)
    rollout = config.actor_rollout_ref.rollout
    if rollout.name not in ROLLOUTS:
        raise ValueError(
            f"nested needs actor_rollout_ref.rollout.name in {ROLLOUTS} (layer skipping is implemented "
            f"there), got {rollout.name!r}"
        )
    if rollout.name == "vllm" and cfg.schedule.skip_ratio > 0:
        from verl_ext.nested.vllm_plugin import check_vllm_rollout_config

        check_vllm_rollout_config(rollout)
    rc = config.algorithm.get("rollout_correction")
    check_rollout_correction(cfg.correction, None if rc is None else dict(rc), bool(rollout.calculate_log_probs))
    return cfg


def _num_layers(config: Any) -> int:
    from transformers import AutoConfig

    model = config.actor_rollout_ref.model
    hf = AutoConfig.from_pretrained(model.path, trust_remote_code=bool(model.get("trust_remote_code", False)))
    return int(getattr(hf, "text_config", hf).num_hidden_layers)


def build_nested(config: Any) -> NestedController | None:
    """The controller of a config with a ``nested:`` section, else ``None``."""
    cfg = nested_config(config)
    if cfg is None:
        return None
    rc = config.algorithm.rollout_correction
    return NestedController(cfg, _num_layers(config), str(config.actor_rollout_ref.rollout.name), dict(rc))


class NestedController:
    """Per-step skip sets, their application on the rollout servers, statistics and curriculum feedback."""

    def __init__(self, cfg: NestedConfig, num_layers: int, rollout_name: str, rollout_correction: dict) -> None:
        self.cfg = cfg
        self.schedule = SkipSchedule(cfg.schedule, num_layers)
        self.rollout_name = rollout_name
        self.rollout_correction = rollout_correction
        self.current: list[int] = []
        logger.info(
            "nested: %d layers, |S| = %d from %s (%s), correction %s, curriculum feedback %s",
            num_layers,
            self.schedule.size,
            self.schedule.allowed.tolist(),
            cfg.schedule.mode,
            cfg.correction,
            cfg.curriculum_feedback,
        )

    # ------------------------------------------------------------------ rollout servers
    def _servers(self, trainer: Any) -> list[Any]:
        return [s for r in trainer.llm_server_manager.get_replicas() for s in r.servers]

    def _push(self, trainer: Any, layers: list[int]) -> None:
        import ray

        if self.rollout_name == "hf":
            ray.get([s.set_skip_layers.remote(layers) for s in self._servers(trainer)])
            return
        # vllm (GPU path by reading, verl_ext/nested/vllm_plugin.py): the node-rank-0 server of each replica holds
        # the AsyncLLM (verl 0.9.1's vLLMReplica.servers, in node order); its collective_rpc runs the named worker
        # method on every TP/PP worker of the engine. Then drop the prefix cache: blocks computed under another S
        # must not be reused (verl's clear_kv_cache -> AsyncLLM.reset_prefix_cache).
        from verl_ext.nested.vllm_plugin import SET_SKIP_RPC

        heads = [r.servers[0] for r in trainer.llm_server_manager.get_replicas()]
        ray.get([s.collective_rpc.remote(SET_SKIP_RPC, args=(list(layers),)) for s in heads])
        ray.get([s.clear_kv_cache.remote() for s in heads])

    def _generation_stats(self, trainer: Any) -> dict[str, float]:
        if self.rollout_name != "hf":
            return {}
        import ray

        stats = ray.get([s.generation_stats.remote() for s in self._servers(trainer)])
        tokens, seconds = sum(s["tokens"] for s in stats), sum(s["seconds"] for s in stats)
        return {"nested/gen_tokens": tokens, "nested/gen_tokens_per_s": tokens / seconds if seconds > 0 else 0.0}

    def before_generation(self, trainer: Any) -> None:
        """Draw this step's S and set it on every rollout server (also for S = {}: resets the counters)."""
        self.current = self.schedule.draw()
        self._push(trainer, self.current)
        logger.info("nested step %d skips layers %s", trainer.global_steps, self.current)

    # ------------------------------------------------------------------ after the update
    def _read(self, batch: Any) -> dict[str, Any] | None:
        import transfer_queue as tq

        keys = [k for k, t in zip(batch.keys, batch.tags) if not t.get("is_padding", False)]
        if not keys:
            return None
        fields = ["uid", "rollout_log_probs", "old_log_probs", "response_mask"]
        if self.rollout_correction.get("rollout_is"):
            fields.append("rollout_is_weights")
        td = tq.kv_batch_get(keys=keys, partition_id=batch.partition_id, select_fields=fields)
        uids = [str(u) for u in td["uid"]]
        padded = td.select(*[f for f in fields if f != "uid"]).to_padded_tensor()
        out = {k: padded[k].float() for k in fields if k != "uid"}
        out.update(keys=keys, uids=uids)
        return out

    def recheck_weights(self, data: dict[str, Any]) -> float:
        """max |w(verl) - w(recomputed)| over valid tokens: the IS weights the actor's loss multiplies
        (``core_algos.compute_policy_loss_*``: ``pg_losses * rollout_is_weights``) against our own recomputation."""
        rc, mask = self.rollout_correction, data["response_mask"]
        old, rol = data["old_log_probs"], data["rollout_log_probs"]
        thr = float(rc.get("rollout_is_threshold", 2.0))
        if rc.get("rollout_is") == "token":
            mine = truncated_token_weights(old, rol, thr)
        else:  # sequence: one weight per response on all its tokens
            mine = torch.exp(sequence_log_ratios(old, rol, mask).clamp(max=20.0)).clamp(max=thr)[:, None].expand_as(old)
        return float(((data["rollout_is_weights"] - mine).abs() * mask).max())

    def after_step(self, trainer: Any, batch: Any) -> tuple[dict[str, float], dict[str, Any] | None]:
        """Metrics of this step; then the servers go back to the full model (validation, next step's draw)."""
        metrics: dict[str, float] = {
            "nested/skip_size": float(len(self.current)),
            "nested/skip_ratio": len(self.current) / self.schedule.num_layers,
            # a unique number per set (bit l for layer l): the logged sets can be compared between steps
            "nested/skip_code": float(sum(2**i for i in self.current)),
        }
        metrics.update(self._generation_stats(trainer))
        data = self._read(batch)
        if data is not None:
            stats = behaviour_stats(data["old_log_probs"], data["rollout_log_probs"], data["response_mask"])
            metrics.update({f"nested/{k}": v for k, v in stats.items()})
            if "rollout_is_weights" in data:
                metrics["nested/is_weight_recheck_err"] = self.recheck_weights(data)
        self._push(trainer, [])
        return metrics, data

    def feedback(
        self, trained: Sequence[Group], screened: Sequence[Group], data: dict[str, Any] | None
    ) -> tuple[list[Group], list[Group]]:
        """What the curriculum observes of this step (see module docstring)."""
        if not self.current:
            return list(trained), list(screened)
        if self.cfg.curriculum_feedback == "full_model_only":
            return [], []
        if screened:
            raise NotImplementedError(
                "nested.curriculum_feedback=importance_weighted cannot weight screening rollouts (released before the "
                "actor recomputes log-probs); use a curriculum without screening rounds or full_model_only"
            )
        if data is None:
            return list(trained), []
        from verl_ext.trainer.context import rewards_by_uid

        seq = sequence_log_ratios(data["old_log_probs"], data["rollout_log_probs"], data["response_mask"])
        by_uid = rewards_by_uid(data["keys"], data["uids"], [t.reshape(1) for t in seq])
        out = []
        for g in trained:
            lw = by_uid.get(g.handle)
            if g.rewards is None or lw is None:
                raise KeyError(f"nested: no rewards or log-ratios for group {g.handle} (index {g.index})")
            out.append(dataclasses.replace(g, rewards=importance_weighted_rewards(g.rewards, lw)))
        return out, []

    # ------------------------------------------------------------------ checkpoints
    def save(self, step_dir: str) -> None:
        path = os.path.join(step_dir, self.cfg.state_file)
        torch.save({"schedule": self.schedule.state_dict(), "current": self.current}, path + ".tmp")
        os.replace(path + ".tmp", path)

    def load(self, step_dir: str) -> None:
        path = os.path.join(step_dir, self.cfg.state_file)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"resuming a nested run from {step_dir} but it has no {self.cfg.state_file}; "
                "it was written without nested: remove the nested section or start fresh"
            )
        state = torch.load(path, weights_only=False)
        self.schedule.load_state_dict(state["schedule"])
        logger.info("nested: skip schedule restored from %s (%d draws so far)", path, self.schedule.draws)
