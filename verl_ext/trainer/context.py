"""The real :class:`~verl_ext.curriculum.base.RolloutContext`: verl's agent loop and TransferQueue behind it.

Runs inside ``prepare_step`` while the rollout engine is awake. Prompts are built from the training
dataset by position (= ``extra_info.index``, checked at start-up), submitted through verl's own
``_submit_batch_to_rollout`` with a per-row ``__rollout_n__``, and read back from TransferQueue.

Three GPU-runtime rules (docs: ``verl_ext/trainer/README.md``):

* **Waves.** A *wave* is one blocking wait for a set of dispatched requests. :meth:`generate_and_extend`
  dispatches fresh prompts and continuations before waiting once, so the engine batches them together
  (SPEED's screening of the next candidates with the continuation of the previous round's accepted prompts).
  ``StepLog.waves`` counts them (``curriculum/gen_waves``).
* **verl's clock.** Every dispatch-and-wait runs under verl's own ``marked_timer("gen", trainer.timing_raw)``,
  so ``timing_s/gen`` (and the step time behind ``perf/throughput``) includes DS/SPEED/GRESO rounds. The strategy's
  own work inside ``run_step`` runs under :meth:`TQRolloutContext.selecting`, verl's
  ``marked_timer("curriculum_select")`` paused while generating (``timing_s/curriculum_select``).
* **Bounded wait.** Waiting polls TransferQueue's listing; it logs progress at verl's replay-buffer cadence
  (``VERL_REPLAY_BUFFER_DEBUG_INTERVAL_SECONDS``) and raises :class:`RolloutWaitTimeout` after ``timeout_s``,
  naming the step, the prompts still pending, their agent-loop workers and the replicas with requests in flight.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import transfer_queue as tq
from tensordict import TensorDict
from verl.trainer.ppo.v1.replay_buffer import VERL_REPLAY_BUFFER_DEBUG_INTERVAL_SECONDS
from verl.utils import tensordict_utils as tu
from verl.utils.dataset.rl_dataset import collate_fn
from verl.utils.debug import marked_timer

from verl_ext.curriculum.base import Group

if TYPE_CHECKING:
    from verl_ext.trainer.trainer import CurriculumTrainerSync

logger = logging.getLogger(__name__)

__all__ = [
    "OBSERVE_TIMER",
    "SELECT_TIMER",
    "RolloutWaitTimeout",
    "StepLog",
    "TQRolloutContext",
    "describe_pending",
    "replica_inflight",
    "rewards_by_uid",
    "with_continuations",
]

PARTITION = "train"
# verl timing_raw names of the curriculum's phases (verl logs them as timing_s/<name>, seconds; docs/metrics.md)
SELECT_TIMER = "curriculum_select"
OBSERVE_TIMER = "curriculum_observe"
_TERMINAL = ("finished", "failure")
# verl's replay buffer logs its waiting state at this cadence (env VERL_REPLAY_BUFFER_DEBUG_INTERVAL_SECONDS, 60 s).
PROGRESS_INTERVAL_S = float(VERL_REPLAY_BUFFER_DEBUG_INTERVAL_SECONDS)


class RolloutWaitTimeout(TimeoutError):
    """Rollouts of a step did not finish within ``curriculum.rollout_timeout_s`` (a dead or stuck replica)."""


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


def with_continuations(uids: Iterable[str], aliases: Mapping[str, str]) -> set[str]:
    """``uids`` plus the continuation uids aliased to them (one pass over ``aliases``: O(|uids| + |aliases|))."""
    out = set(uids)
    out.update([c for c, base in aliases.items() if base in out])
    return out


def _session_order(key: str) -> tuple[str, int, int]:
    prefix, session, index = key.rsplit("_", 2)
    return (prefix, int(session), int(index))


def replica_inflight(trainer: Any, timeout_s: float = 10.0) -> dict[str, int] | None:
    """In-flight requests per rollout replica, from verl's global load balancer; ``None`` if unavailable.

    Reads ``trainer.llm_server_manager.global_load_balancer`` (a Ray actor of
    ``verl/workers/rollout/router.py`` ``GlobalRequestLoadBalancer``: ``get_all_servers``,
    ``get_inflight_count``). GPU path checked by reading; best effort, never raises.
    """
    balancer = getattr(getattr(trainer, "llm_server_manager", None), "global_load_balancer", None)
    if balancer is None:
        return None
    try:
        import ray

        servers = ray.get(balancer.get_all_servers.remote(), timeout=timeout_s)
        counts = ray.get([balancer.get_inflight_count.remote(s) for s in servers], timeout=timeout_s)
    except Exception as err:  # a diagnostic must not hide the timeout it explains
        logger.warning("could not query the rollout load balancer: %s", err)
        return None
    return {str(s): int(c) for s, c in zip(servers, counts)}


def describe_pending(
    step: int,
    waited_s: float,
    timeout_s: float,
    status: Mapping[str, str],
    index_of: Mapping[str, int],
    worker_of: Mapping[str, int],
    inflight: Mapping[str, int] | None,
    limit: int = 10,
) -> str:
    """The timeout message: step, prompts still pending (status, dataset index, agent-loop worker), replicas.

    Args:
        step: the global step being built.
        waited_s, timeout_s: how long the wait lasted and its bound.
        status: ``{prompt uid: TransferQueue status}`` of the prompts not yet terminal.
        index_of, worker_of: dataset index and agent-loop worker of each dispatched uid (missing → ``?``).
        inflight: requests in flight per replica (:func:`replica_inflight`) or ``None``.
        limit: prompts listed by name.
    """
    by_status: dict[str, int] = {}
    by_worker: dict[str, int] = {}
    for uid, st in status.items():
        by_status[st] = by_status.get(st, 0) + 1
        w = str(worker_of.get(uid, "?"))
        by_worker[w] = by_worker.get(w, 0) + 1
    listed = ", ".join(
        f"{uid} (index {index_of.get(uid, '?')}, {st}, agent-loop worker {worker_of.get(uid, '?')})"
        for uid, st in sorted(status.items())[:limit]
    )
    if inflight is None:
        replicas = "replica load unavailable (no load balancer reachable)"
    else:
        busy = {s: c for s, c in inflight.items() if c > 0}
        replicas = f"replicas with requests in flight: {busy or 'none'} (of {len(inflight)})"
    return (
        f"step {step}: {len(status)} prompt(s) still not finished after {waited_s:.0f} s "
        f"(curriculum.rollout_timeout_s={timeout_s:g}); by status {by_status}; by agent-loop worker {by_worker}; "
        f"{replicas}; first: {listed}. A rollout replica is probably dead or stuck: check its log, or raise "
        "curriculum.rollout_timeout_s if responses are legitimately this slow"
    )


@dataclass
class StepLog:
    """Everything generated in one step, for ``observe`` and the shared metrics.

    Attributes:
        rounds: generation requests dispatched (one per generate/extend/submit batch).
        waves: blocking waits on the rollout engine (``curriculum/gen_waves``; a fused screening +
            continuation round is one wave).
        committed, committed_indices: handles of the committed groups and their dataset indices, same order.
        submitted: groups were dispatched without waiting (verl's replay buffer waits for them: one more wave).
        released_prompt_tokens, released_response_tokens: tokens of trajectories generated and then discarded
            (screening, surplus), which verl's per-batch token counts never see.
    """

    generated: dict[str, Group] = field(default_factory=dict)
    committed: list[str] = field(default_factory=list)
    committed_indices: list[int] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    rounds: int = 0
    waves: int = 0
    submitted: bool = False
    prompts: int = 0
    responses: int = 0
    released_prompt_tokens: int = 0
    released_response_tokens: int = 0


class TQRolloutContext:
    """Generation through verl's V1 agent loop for one training step.

    Args:
        trainer: the running :class:`CurriculumTrainerSync`.
        scorer: optional prompt-value predictor (PCL's value worker group), ``indices -> values``.
        poll_interval: seconds between TransferQueue status polls while waiting for rewards.
        aliases: continuation-uid map shared across steps (see :meth:`extend`).
        timeout_s: bound on one wave's wait (``curriculum.rollout_timeout_s``).
    """

    def __init__(
        self,
        trainer: CurriculumTrainerSync,
        scorer: Callable[[np.ndarray], np.ndarray] | None = None,
        poll_interval: float = 0.05,
        aliases: dict[str, str] | None = None,
        timeout_s: float = 3600.0,
    ) -> None:
        if not (isinstance(timeout_s, int | float) and math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"curriculum.rollout_timeout_s must be a finite number of seconds > 0, got {timeout_s!r}")
        self._trainer = trainer
        self._scorer = scorer
        self._poll = poll_interval
        self._timeout = float(timeout_s)
        self.step = int(trainer.global_steps)
        self.log = StepLog()
        # continuation uid -> the group uid its trajectories are relabelled to. Owned by the trainer so that
        # groups carried across steps (SPEED pipelined) keep their continuations.
        self._aliases: dict[str, str] = {} if aliases is None else aliases
        self._index_of: dict[str, int] = {}
        self._worker_of: dict[str, int] = {}
        self._select_stack: contextlib.ExitStack | None = None  # the open curriculum_select timer, if any

    # ------------------------------------------------------------------ RolloutContext API
    def submit(self, indices: np.ndarray, n: int | np.ndarray) -> list[Group]:
        with self._gen_timer():
            uids = self._dispatch(np.asarray(indices, dtype=np.int64), n)
        self.log.submitted = self.log.submitted or bool(uids)
        return [Group(handle=u, index=self._index_of[u]) for u in uids]

    def generate(self, indices: np.ndarray, n: int | np.ndarray) -> list[Group]:
        return self.generate_and_extend(indices, n, [], 0)[0]

    def extend(self, groups: Sequence[Group], n_more: int | np.ndarray) -> list[Group]:
        """Continue groups with more responses (SPEED).

        The continuation is dispatched under fresh uids (verl numbers sessions from 0 per uid, so reusing the
        uid would collide on ``{uid}_{session}_{i}`` keys); once finished, its trajectories' ``uid`` *field* is
        rewritten to the original group's uid. GRPO groups by that field, so the group trains as one group of
        all its responses, and the committed allow-list holds both prompt keys.
        """
        return self.generate_and_extend(np.zeros(0, dtype=np.int64), 0, groups, n_more)[1]

    def generate_and_extend(
        self,
        indices: np.ndarray,
        n: int | np.ndarray,
        groups: Sequence[Group],
        n_more: int | np.ndarray,
    ) -> tuple[list[Group], list[Group]]:
        """One wave: dispatch fresh prompts and continuations of ``groups``, then wait once for both.

        Returns:
            ``(fresh groups with rewards, continued groups with all their rewards)``; either may be empty.
        """
        idx = np.asarray(indices, dtype=np.int64)
        handles = [g.handle for g in groups]
        if not idx.size and not handles:
            return [], []
        with self._gen_timer():
            fresh = self._dispatch(idx, n) if idx.size else []
            cont = self._dispatch(np.array([g.index for g in groups], dtype=np.int64), n_more) if handles else []
            rewards = self._wait_and_read(fresh + cont)
            if cont:
                self._relabel(cont, handles)
        out_fresh = [Group(handle=u, index=self._index_of[u], rewards=np.asarray(rewards[u])) for u in fresh]
        for g in out_fresh:
            self.log.generated[g.handle] = g
        out_cont = []
        for g, c in zip(groups, cont):
            self._aliases[c] = g.handle
            prev = np.asarray(g.rewards if g.rewards is not None else [], dtype=float)
            merged = Group(handle=g.handle, index=g.index, rewards=np.concatenate([prev, rewards[c]]))
            self.log.generated[g.handle] = merged
            out_cont.append(merged)
        return out_fresh, out_cont

    def release(self, groups: Sequence[Group]) -> None:
        uids = [g.handle for g in groups]
        drop = with_continuations(uids, self._aliases)
        if not drop:
            return
        listing = (tq.kv_list(PARTITION) or {}).get(PARTITION, {})
        keys = [k for k in listing if k.split("_", 1)[0] in drop]
        for k in keys:
            tag = listing[k]
            if not tag.get("is_prompt"):
                self.log.released_prompt_tokens += int(tag.get("prompt_len", 0) or 0)
                self.log.released_response_tokens += int(tag.get("response_len", 0) or 0)
        tq.kv_clear(keys=keys, partition_id=PARTITION)
        self.log.released.extend(uids)
        self._forget(drop)

    def trim(self, groups: Sequence[Group], keep: Sequence[np.ndarray]) -> list[Group]:
        """Keep the responses at positions ``keep[j]`` of ``groups[j]`` and clear the others from TransferQueue
        (Reinforce-Ada). Position order is the rewards' order: the group's own trajectories by session, then each
        continuation's (:meth:`extend`) in the order they were added. One listing for all groups."""
        if not groups:
            return []
        parts: dict[str, list[str]] = {g.handle: [g.handle] for g in groups}
        for c, base in self._aliases.items():  # insertion order = extension order
            if base in parts:
                parts[base].append(c)
        keys_of: dict[str, list[str]] = {u: [] for us in parts.values() for u in us}
        listing = (tq.kv_list(PARTITION) or {}).get(PARTITION, {})
        for k, tag in listing.items():
            if not tag.get("is_prompt") and k.split("_", 1)[0] in keys_of:
                keys_of[k.split("_", 1)[0]].append(k)
        drop: list[str] = []
        out = []
        for g, positions in zip(groups, keep, strict=True):
            keys = [k for u in parts[g.handle] for k in sorted(keys_of[u], key=_session_order)]
            if g.rewards is None or len(keys) != g.n:
                raise RuntimeError(f"trim: group {g.handle} has {len(keys)} trajectories in TransferQueue, not {g.n}")
            mask = np.zeros(len(keys), dtype=bool)
            mask[np.asarray(positions, dtype=np.int64)] = True
            for k, kept in zip(keys, mask):
                if not kept:
                    drop.append(k)
                    self.log.released_prompt_tokens += int(listing[k].get("prompt_len", 0) or 0)
                    self.log.released_response_tokens += int(listing[k].get("response_len", 0) or 0)
            out.append(Group(handle=g.handle, index=g.index, rewards=np.asarray(g.rewards)[mask]))
        if drop:
            tq.kv_clear(keys=drop, partition_id=PARTITION)
        return out

    def commit(self, groups: Sequence[Group]) -> None:
        uids = [g.handle for g in groups]
        chosen = set(uids)
        if len(chosen) != len(uids):
            raise ValueError("ctx.commit received the same group twice")
        buffer = self._trainer.replay_buffer
        buffer.allow(with_continuations(chosen, self._aliases))
        self.log.committed.extend(uids)
        self.log.committed_indices.extend(int(g.index) for g in groups)
        self._forget(chosen)

    def score(self, indices: np.ndarray) -> np.ndarray:
        if self._scorer is None:
            raise NotImplementedError("this curriculum needs prompt scores but no value worker group is configured")
        return np.asarray(self._scorer(np.asarray(indices, dtype=np.int64)), dtype=np.float64)

    # ------------------------------------------------------------------ diagnostics
    def describe_pending(self, status: Mapping[str, str], waited_s: float) -> str:
        """:func:`describe_pending` for this step's dispatched prompts (also used by the replay buffer's bound)."""
        return describe_pending(
            self.step,
            waited_s,
            self._timeout,
            status,
            self._index_of,
            self._worker_of,
            replica_inflight(self._trainer),
        )

    # ------------------------------------------------------------------ timing
    @contextlib.contextmanager
    def selecting(self, timing_raw: dict[str, float]) -> Iterator[None]:
        """Time the strategy's own work (``run_step`` minus generation) into ``timing_raw[SELECT_TIMER]``.

        verl's ``marked_timer`` accumulates: the select timer is closed before each generation wave (which runs
        under verl's ``gen`` timer) and opened again after it, so the two never overlap and each profiler range
        (NVTX/MSTX on GPUs) covers one phase.
        """
        self._open_select(timing_raw)
        try:
            yield
        finally:
            self._close_select()
            self._select_timing = None

    _select_timing: dict[str, float] | None = None

    def _open_select(self, timing_raw: dict[str, float]) -> None:
        self._select_timing = timing_raw
        stack = contextlib.ExitStack()
        stack.enter_context(marked_timer(SELECT_TIMER, timing_raw, color="purple"))
        self._select_stack = stack

    def _close_select(self) -> None:
        if self._select_stack is not None:
            self._select_stack.close()
            self._select_stack = None

    @contextlib.contextmanager
    def _gen_timer(self) -> Iterator[None]:
        """verl's own ``gen`` timer on the trainer's ``timing_raw`` (accumulates, like ``_step_once``'s), with the
        select timer paused meanwhile."""
        timing_raw = getattr(self._trainer, "timing_raw", None)
        resume = self._select_timing
        self._close_select()
        try:
            if timing_raw is None:
                yield
            else:
                with marked_timer("gen", timing_raw, color="red"):
                    yield
        finally:
            if resume is not None:
                self._open_select(resume)

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

    def _agent_loop_workers(self) -> int:
        manager = getattr(self._trainer, "agent_loop_manager", None)
        return max(1, len(getattr(manager, "agent_loop_workers", None) or [None]))

    def _dispatch(self, indices: np.ndarray, n: int | np.ndarray) -> list[str]:
        counts = np.broadcast_to(np.asarray(n, dtype=np.int64), indices.shape).copy()
        if (counts < 1).any():
            raise ValueError("every submitted prompt needs n >= 1 responses; drop zero-allocation prompts first")
        td = self.rows(indices)
        tu.assign_non_tensor_data(td, "global_steps", self._trainer.global_steps)
        tu.assign_non_tensor_stack(td, "__rollout_n__", [int(c) for c in counts])
        uids = [str(u) for u in td["uid"]]
        self._index_of.update(zip(uids, (int(i) for i in indices)))
        # AgentLoopManagerTQ.generate_sequences hands chunk j of TensorDict.chunk(workers) to worker j.
        chunk = -(-len(uids) // self._agent_loop_workers())
        self._worker_of.update((u, j // chunk) for j, u in enumerate(uids))
        self._trainer._submit_batch_to_rollout(td)
        self.log.rounds += 1
        self.log.prompts += len(indices)
        self.log.responses += int(counts.sum())
        return uids

    def _wait_and_read(self, uids: Sequence[str]) -> dict[str, np.ndarray]:
        """One wave: poll until every prompt in ``uids`` is terminal (bounded), then read the rewards."""
        self.log.waves += 1
        want = set(uids)
        pending = set(uids)
        start = last_log = time.monotonic()
        while True:
            listing = (tq.kv_list(PARTITION) or {}).get(PARTITION, {})
            pending = {u for u in pending if listing.get(u, {}).get("status") not in _TERMINAL}
            if not pending:
                break
            now = time.monotonic()
            if now - start > self._timeout:
                status = {u: str(listing.get(u, {}).get("status", "missing")) for u in pending}
                raise RolloutWaitTimeout(self.describe_pending(status, now - start))
            if now - last_log > PROGRESS_INTERVAL_S:
                running = sum(listing.get(u, {}).get("status") == "running" for u in pending)
                logger.info(
                    "step %d: waiting for rollouts: %d/%d prompts finished, %d running, %d pending, %.0f s",
                    self.step, len(want) - len(pending), len(want), running, len(pending) - running, now - start,
                )  # fmt: skip
                last_log = now
            time.sleep(self._poll)
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
