"""The real :class:`~verl_ext.curriculum.base.RolloutContext`: verl's agent loop and TransferQueue behind it.

Runs inside ``prepare_step`` while the rollout engine is awake. Prompts are built from the training
dataset by position (= ``extra_info.index``, checked at start-up), submitted through verl's own
``_submit_batch_to_rollout`` with a per-row ``__rollout_n__``, and read back from TransferQueue.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import transfer_queue as tq
from tensordict import TensorDict
from verl.utils import tensordict_utils as tu
from verl.utils.dataset.rl_dataset import collate_fn

from verl_ext.curriculum.base import Group

if TYPE_CHECKING:
    from verl_ext.trainer.trainer import CurriculumTrainerSync

logger = logging.getLogger(__name__)

__all__ = ["TQRolloutContext", "StepLog", "rewards_by_uid"]

PARTITION = "train"
_TERMINAL = ("finished", "failure")


def new_uid() -> str:
    """A uuid4 without ``_`` (verl splits trajectory keys ``{uid}_{session}_{i}`` on it)."""
    return uuid.uuid4().hex


def rewards_by_uid(keys: Sequence[str], uids: Sequence[str], scores: Any) -> dict[str, list[float]]:
    """Sum each trajectory's token rewards (``rm_scores`` is nested, reward on the last token) and group them
    by the ``uid`` field.

    Args:
        keys: trajectory keys ``{uid}_{session}_{i}`` (only used for ordering within a group).
        uids: the ``uid`` field of each trajectory (the GRPO group; may differ from the key prefix for
            continuations, see :meth:`TQRolloutContext.extend`).
        scores: nested tensor of per-token rewards, one row per key.
    """
    out: dict[str, list[tuple[str, float]]] = {}
    for j, key in enumerate(keys):
        out.setdefault(str(uids[j]), []).append((key, float(scores[j].sum())))
    return {u: [r for _, r in sorted(rows, key=lambda kr: _session_order(kr[0]))] for u, rows in out.items()}


def _session_order(key: str) -> tuple[str, int, int]:
    prefix, session, index = key.rsplit("_", 2)
    return (prefix, int(session), int(index))


@dataclass
class StepLog:
    """Everything generated in one step, for ``observe`` and the shared metrics."""

    generated: dict[str, Group] = field(default_factory=dict)
    committed: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    rounds: int = 0
    prompts: int = 0
    responses: int = 0
    gen_seconds: float = 0.0


class TQRolloutContext:
    """Generation through verl's V1 agent loop for one training step.

    Args:
        trainer: the running :class:`CurriculumTrainerSync`.
        scorer: optional prompt-value predictor (PCL's value worker group), ``indices -> values``.
        poll_interval: seconds between TransferQueue status polls while waiting for rewards.
        aliases: continuation-uid map shared across steps (see :meth:`extend`).
    """

    def __init__(
        self,
        trainer: CurriculumTrainerSync,
        scorer: Callable[[np.ndarray], np.ndarray] | None = None,
        poll_interval: float = 0.05,
        aliases: dict[str, str] | None = None,
    ) -> None:
        self._trainer = trainer
        self._scorer = scorer
        self._poll = poll_interval
        self.step = int(trainer.global_steps)
        self.log = StepLog()
        # continuation uid -> the group uid its trajectories are relabelled to. Owned by the trainer so that
        # groups carried across steps (SPEED pipelined) keep their continuations.
        self._aliases: dict[str, str] = {} if aliases is None else aliases
        self._index_of: dict[str, int] = {}

    # ------------------------------------------------------------------ RolloutContext API
    def submit(self, indices: np.ndarray, n: int | np.ndarray) -> list[Group]:
        uids = self._dispatch(np.asarray(indices, dtype=np.int64), n)
        groups = [Group(handle=u, index=self._index_of[u]) for u in uids]
        return groups

    def generate(self, indices: np.ndarray, n: int | np.ndarray) -> list[Group]:
        t0 = time.perf_counter()
        uids = self._dispatch(np.asarray(indices, dtype=np.int64), n)
        rewards = self._wait_and_read(uids)
        self.log.gen_seconds += time.perf_counter() - t0
        groups = [Group(handle=u, index=self._index_of[u], rewards=np.asarray(rewards[u])) for u in uids]
        for g in groups:
            self.log.generated[g.handle] = g
        return groups

    def extend(self, groups: Sequence[Group], n_more: int | np.ndarray) -> list[Group]:
        """Continue groups with more responses (SPEED).

        The continuation is dispatched under fresh uids (verl numbers sessions from 0 per uid, so reusing the
        uid would collide on ``{uid}_{session}_{i}`` keys); once finished, its trajectories' ``uid`` *field* is
        rewritten to the original group's uid. GRPO groups by that field, so the group trains as one group of
        all its responses, and the committed allow-list holds both prompt keys.
        """
        t0 = time.perf_counter()
        idx = np.array([g.index for g in groups], dtype=np.int64)
        cont = self._dispatch(idx, n_more)
        rewards = self._wait_and_read(cont)
        self._relabel(cont, [g.handle for g in groups])
        out = []
        for g, c in zip(groups, cont):
            self._aliases[c] = g.handle
            prev = np.asarray(g.rewards if g.rewards is not None else [], dtype=float)
            merged = Group(handle=g.handle, index=g.index, rewards=np.concatenate([prev, rewards[c]]))
            self.log.generated[g.handle] = merged
            out.append(merged)
        self.log.gen_seconds += time.perf_counter() - t0
        return out

    def release(self, groups: Sequence[Group]) -> None:
        uids = [g.handle for g in groups]
        uids += [c for c, base in self._aliases.items() if base in set(uids)]
        if not uids:
            return
        listing = (tq.kv_list(PARTITION) or {}).get(PARTITION, {})
        drop = set(uids)
        keys = [k for k in listing if k.split("_", 1)[0] in drop]
        tq.kv_clear(keys=keys, partition_id=PARTITION)
        self.log.released.extend(g.handle for g in groups)
        self._forget(drop)

    def commit(self, groups: Sequence[Group]) -> None:
        uids = [g.handle for g in groups]
        if len(set(uids)) != len(uids):
            raise ValueError("ctx.commit received the same group twice")
        buffer = self._trainer.replay_buffer
        buffer.allow(uids)
        buffer.allow(c for c, base in self._aliases.items() if base in set(uids))
        self.log.committed.extend(uids)
        self._forget(set(uids))

    def score(self, indices: np.ndarray) -> np.ndarray:
        if self._scorer is None:
            raise NotImplementedError("this curriculum needs prompt scores but no value worker group is configured")
        return np.asarray(self._scorer(np.asarray(indices, dtype=np.int64)), dtype=np.float64)

    # ------------------------------------------------------------------ internals
    def _forget(self, uids: set[str]) -> None:
        for c in [c for c, base in self._aliases.items() if base in uids or c in uids]:
            del self._aliases[c]

    def rows(self, indices: np.ndarray) -> TensorDict:
        """Collated prompt rows for dataset positions ``indices`` (position = ``extra_info.index``)."""
        ds = self._trainer.train_dataset
        batch = collate_fn([ds[int(i)] for i in indices])
        batch["uid"] = np.array([new_uid() for _ in range(len(indices))], dtype=object)
        return tu.get_tensordict(batch)

    def _dispatch(self, indices: np.ndarray, n: int | np.ndarray) -> list[str]:
        counts = np.broadcast_to(np.asarray(n, dtype=np.int64), indices.shape).copy()
        if (counts < 1).any():
            raise ValueError("every submitted prompt needs n >= 1 responses; drop zero-allocation prompts first")
        td = self.rows(indices)
        tu.assign_non_tensor_data(td, "global_steps", self._trainer.global_steps)
        tu.assign_non_tensor_stack(td, "__rollout_n__", [int(c) for c in counts])
        uids = [str(u) for u in td["uid"]]
        self._index_of.update(zip(uids, (int(i) for i in indices)))
        self._trainer._submit_batch_to_rollout(td)
        self.log.rounds += 1
        self.log.prompts += len(indices)
        self.log.responses += int(counts.sum())
        return uids

    def _wait_and_read(self, uids: Sequence[str]) -> dict[str, np.ndarray]:
        pending = set(uids)
        while pending:
            listing = (tq.kv_list(PARTITION) or {}).get(PARTITION, {})
            pending = {u for u in pending if listing.get(u, {}).get("status") not in _TERMINAL}
            if pending:
                time.sleep(self._poll)
        want = set(uids)
        keys = [k for k, tag in listing.items() if not tag.get("is_prompt") and k.split("_", 1)[0] in want]
        if not keys:
            return {u: np.zeros(0) for u in uids}
        td = tq.kv_batch_get(keys=keys, partition_id=PARTITION, select_fields=["rm_scores"])
        prefixes = [k.split("_", 1)[0] for k in keys]
        grouped = rewards_by_uid(keys, prefixes, td["rm_scores"])
        return {u: np.asarray(grouped.get(u, []), dtype=float) for u in uids}

    def _relabel(self, continuation_uids: Sequence[str], group_uids: Sequence[str]) -> None:
        listing = (tq.kv_list(PARTITION) or {}).get(PARTITION, {})
        target = dict(zip(continuation_uids, group_uids))
        keys = [k for k, tag in listing.items() if not tag.get("is_prompt") and k.split("_", 1)[0] in target]
        if not keys:
            return
        labels = [target[k.split("_", 1)[0]] for k in keys]
        fields = tu.get_tensordict({"uid": np.array(labels, dtype=object)})
        tq.kv_batch_put(keys=keys, partition_id=PARTITION, fields=fields)
