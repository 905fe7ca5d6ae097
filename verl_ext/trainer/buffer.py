"""A sync replay buffer that returns exactly the groups a curriculum committed (specs/baselines.md §0)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

logger = logging.getLogger(__name__)

__all__ = ["AllowListReplayBuffer"]


class AllowListReplayBuffer(ReplayBuffer):
    """verl's sync :class:`ReplayBuffer` restricted to an allow-list of prompt uids.

    verl's stock sync buffer waits for exactly ``train_batch_size`` terminal groups and takes the oldest.
    A curriculum instead commits an explicit set of groups of any count (GVM and CurES ``release`` drop
    zero-allocation prompts; screening groups of DS/SPEED/probe are released, never trained). Only two
    narrow methods change: which terminal groups are sampleable, and how many ``sample`` waits for.
    The validation partition is untouched.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._allowed: set[str] = set()

    def allow(self, uids: Iterable[str]) -> None:
        """Add prompt uids to this step's training batch."""
        self._allowed.update(uids)

    @property
    def allowed(self) -> frozenset[str]:
        return frozenset(self._allowed)

    def _sampleable_terminal_keys(self, partition_id, eviction_reasons) -> set[str]:
        keys = super()._sampleable_terminal_keys(partition_id, eviction_reasons)
        if partition_id == "val":
            return keys
        return keys & self._allowed

    def sample(self, global_steps: int, partition_id: str, batch_size: int) -> tuple[KVBatchMeta, dict]:
        if partition_id == "val":
            return super().sample(global_steps, partition_id, batch_size)
        if not self._allowed:
            raise RuntimeError(
                "the curriculum committed no groups this step; its run_step must call ctx.commit(...) "
                "with the groups to train"
            )
        # Wait for every committed group, whatever the configured batch size.
        batch, metrics = super().sample(global_steps, partition_id, len(self._allowed))
        self._allowed.clear()
        return batch, metrics
