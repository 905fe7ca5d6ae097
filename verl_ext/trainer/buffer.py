"""A sync replay buffer that returns exactly the groups a curriculum committed."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping

from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

from verl_ext.trainer.context import RolloutWaitTimeout

logger = logging.getLogger(__name__)

__all__ = ["AllowListReplayBuffer"]

Describe = Callable[[Mapping[str, str], float], str]


class AllowListReplayBuffer(ReplayBuffer):
    """verl's sync :class:`ReplayBuffer` restricted to an allow-list of prompt uids.

    verl's stock sync buffer waits for exactly ``train_batch_size`` terminal groups and takes the oldest.
    A curriculum instead commits an explicit set of groups of any count (GVM and CurES ``release`` drop
    zero-allocation prompts; screening groups of DS/SPEED/probe are released, never trained). Three narrow
    methods change: which terminal groups are sampleable, how many ``sample`` waits for, and (once
    :meth:`bound_wait` is called) that its polling stops with :class:`RolloutWaitTimeout` after a bound
    instead of waiting forever for a dead replica. The validation partition is untouched.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._allowed: set[str] = set()
        self._timeout_s: float | None = None
        self._describe: Describe | None = None
        self._wait_started: float | None = None

    def allow(self, uids: Iterable[str]) -> None:
        """Add prompt uids to this step's training batch."""
        self._allowed.update(uids)

    @property
    def allowed(self) -> frozenset[str]:
        return frozenset(self._allowed)

    def bound_wait(self, timeout_s: float, describe: Describe | None = None) -> None:
        """Bound the wait of the next training ``sample`` calls to ``timeout_s`` seconds.

        Args:
            timeout_s: ``curriculum.rollout_timeout_s`` (> 0, finite).
            describe: ``(status of the committed prompts still pending, seconds waited) -> message`` naming the
                step, prompts and replicas (the trainer passes its rollout context's ``describe_pending``).
        """
        if not (isinstance(timeout_s, int | float) and math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"curriculum.rollout_timeout_s must be a finite number of seconds > 0, got {timeout_s!r}")
        self._timeout_s = float(timeout_s)
        self._describe = describe

    def _sampleable_terminal_keys(self, partition_id, eviction_reasons) -> set[str]:
        keys = super()._sampleable_terminal_keys(partition_id, eviction_reasons)
        if partition_id == "val":
            return keys
        return keys & self._allowed

    def _pending_status(self, partition_id: str) -> dict[str, str]:
        """Committed prompt uids not yet terminal, with their TransferQueue status (``missing``: no prompt tag)."""
        pending, running = self.pending_keys[partition_id], self.running_keys[partition_id]
        terminal = self.finished_keys[partition_id] | self.failure_keys[partition_id]
        status = {}
        for uid in self._allowed - terminal:
            status[uid] = "pending" if uid in pending else "running" if uid in running else "missing"
        return status

    def _wait_for_next_poll(self, partition_id: str, last_debug_time: float) -> float:
        started = self._wait_started
        if started is not None and self._timeout_s is not None and partition_id != "val":
            waited = time.monotonic() - started
            if waited > self._timeout_s:
                status = self._pending_status(partition_id)
                if self._describe is not None:
                    message = self._describe(status, waited)
                else:
                    message = (
                        f"{len(status)} committed prompt(s) still not finished after {waited:.0f} s "
                        f"(curriculum.rollout_timeout_s={self._timeout_s:g}): {sorted(status.items())[:10]}"
                    )
                raise RolloutWaitTimeout(message)
        return super()._wait_for_next_poll(partition_id, last_debug_time)

    def sample(self, global_steps: int, partition_id: str, batch_size: int) -> tuple[KVBatchMeta, dict]:
        if partition_id == "val":
            return super().sample(global_steps, partition_id, batch_size)
        if not self._allowed:
            raise RuntimeError(
                "the curriculum committed no groups this step; its run_step must call ctx.commit(...) "
                "with the groups to train"
            )
        # Wait for every committed group, whatever the configured batch size (bounded by bound_wait).
        self._wait_started = time.monotonic()
        try:
            batch, metrics = super().sample(global_steps, partition_id, len(self._allowed))
        finally:
            self._wait_started = None
        self._allowed.clear()
        return batch, metrics
