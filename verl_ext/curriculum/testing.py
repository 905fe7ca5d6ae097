"""A seeded, in-memory :class:`~verl_ext.curriculum.base.RolloutContext` for CPU tests and benchmarks.

Rewards are Bernoulli draws from a per-prompt success rate, so a curriculum can be exercised end to end
(choose → generate/submit → commit → observe) without verl, Ray or a model. Every call is recorded so tests
can assert what a curriculum asked for.

Typical loop::

    ctx = FakeRolloutContext(success_rates, seed=0)
    for _ in range(steps):
        metrics = cur.run_step(ctx)
        cur.observe(ctx.committed_with_rewards(), ctx.screened_with_rewards())
        ctx.new_step()
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from verl_ext.curriculum.base import Curriculum, Group

__all__ = ["FakeRolloutContext", "StepRecord", "run_steps"]


@dataclasses.dataclass
class StepRecord:
    """What happened in one step of a :class:`FakeRolloutContext`.

    Attributes:
        step: the 1-based step number.
        calls: ``(method, indices, n)`` per generate/submit/extend call (extend records the groups' indices).
        generated: handles of every group created this step, in creation order.
        released: handles passed to ``release``.
        committed: handles passed to ``commit`` (``None`` until commit is called).
        rounds: number of generation calls (generate, submit and extend each count one).
        waves: blocking waits (generate and extend one each; generate_and_extend one for both; submit none).
        responses: number of responses drawn.
    """

    step: int
    calls: list[tuple[str, np.ndarray, np.ndarray]] = dataclasses.field(default_factory=list)
    generated: list[str] = dataclasses.field(default_factory=list)
    released: list[str] = dataclasses.field(default_factory=list)
    committed: list[str] | None = None
    rounds: int = 0
    waves: int = 0
    responses: int = 0


class FakeRolloutContext:
    """Fake rollout context: Bernoulli rewards from ``success_rates[index]``.

    Args:
        success_rates: per-prompt success probability, shape ``(P,)``, values in [0, 1]; P is the pool size.
        seed: seeds the reward stream and the (uuid4-formatted) group handles, so two contexts with the same
            seed given the same calls return the same rewards and handles.
        value_fn: optional ``indices (k,) -> values (k,)`` used by :meth:`score` (PCL's value model); without
            it :meth:`score` raises ``NotImplementedError`` like a real context without a value model.
        start_step: the first step number (e.g. to continue a resumed run).

    Attributes:
        step: current 1-based step; :meth:`new_step` advances it.
        data_epoch: free for the curriculum/trainer to report passes; the fake never changes it.
        history: one :class:`StepRecord` per step, the current one last.
        total_responses, total_rounds: cumulative counters over all steps.
    """

    def __init__(
        self,
        success_rates: np.ndarray,
        seed: int,
        value_fn: Callable[[np.ndarray], np.ndarray] | None = None,
        *,
        start_step: int = 1,
    ) -> None:
        rates = np.asarray(success_rates, dtype=np.float64)
        if rates.ndim != 1 or rates.size == 0:
            raise ValueError(f"success_rates must be a non-empty 1-D array, got shape {rates.shape}")
        if np.any(~np.isfinite(rates)) or rates.min() < 0.0 or rates.max() > 1.0:
            raise ValueError("success_rates must lie in [0, 1]; clip or rescale them")
        self.success_rates = rates
        self.num_prompts = int(rates.size)
        self.value_fn = value_fn
        self._rng = np.random.default_rng(seed)
        # Separate stream so the number of handles created never shifts the rewards.
        self._handle_rng = np.random.default_rng([seed, 1])
        self.step = int(start_step)
        self.data_epoch = 0
        self.history: list[StepRecord] = [StepRecord(step=self.step)]
        self.total_responses = 0
        self.total_rounds = 0
        self._rewards: dict[str, np.ndarray] = {}
        self._index: dict[str, int] = {}

    # ----------------------------------------------------------------------------------------------- records
    @property
    def record(self) -> StepRecord:
        """The current step's record."""
        return self.history[-1]

    @property
    def responses(self) -> int:
        """Responses drawn in the current step."""
        return self.record.responses

    @property
    def rounds(self) -> int:
        """Generation rounds in the current step."""
        return self.record.rounds

    @property
    def committed(self) -> list[str]:
        """Handles committed in the current step (empty before commit)."""
        return list(self.record.committed or [])

    @property
    def released(self) -> list[str]:
        """Handles released in the current step."""
        return list(self.record.released)

    def new_step(self) -> None:
        """Advance to the next step (forgets nothing: earlier steps stay in :attr:`history`)."""
        self.step += 1
        self.history.append(StepRecord(step=self.step))

    def group(self, handle: str) -> Group:
        """The group ``handle`` with all its rewards so far."""
        self._check_handle(handle)
        return Group(handle=handle, index=self._index[handle], rewards=self._rewards[handle].copy())

    def committed_with_rewards(self) -> list[Group]:
        """This step's committed groups with their drawn rewards (the ``trained`` argument of ``observe``)."""
        return [self.group(h) for h in self.committed]

    def screened_with_rewards(self) -> list[Group]:
        """This step's generated but uncommitted groups with rewards (the ``screened`` argument of ``observe``)."""
        done = set(self.committed)
        return [self.group(h) for h in self.record.generated if h not in done]

    # ------------------------------------------------------------------------------------- RolloutContext API
    def generate(self, indices: np.ndarray, n: int | np.ndarray) -> list[Group]:
        """Draw ``n`` Bernoulli rewards per index; return groups with rewards, in the order of ``indices``."""
        groups = self._create("generate", indices, n)
        self.record.waves += 1
        return [self.group(g.handle) for g in groups]

    def generate_and_extend(
        self, indices: np.ndarray, n: int | np.ndarray, groups: Sequence[Group], n_more: int | np.ndarray
    ) -> tuple[list[Group], list[Group]]:
        """:meth:`generate` then :meth:`extend` (same draws and records as two calls), counted as one wave."""
        waves = self.record.waves
        fresh = self.generate(indices, n) if np.asarray(indices).size else []
        more = self.extend(groups, n_more) if len(groups) else []
        self.record.waves = waves + 1
        return fresh, more

    def submit(self, indices: np.ndarray, n: int | np.ndarray) -> list[Group]:
        """Like :meth:`generate` but the returned groups carry ``rewards=None`` (the fake remembers them)."""
        return self._create("submit", indices, n)

    def extend(self, groups: Sequence[Group], n_more: int | np.ndarray) -> list[Group]:
        """Append ``n_more`` rewards to each existing group (same handle); return them with all rewards."""
        handles = [g.handle for g in groups]
        for h in handles:
            self._check_handle(h)
            if h in self.record.released:
                raise ValueError(f"group {h} was released this step and cannot be extended")
        idx = np.array([self._index[h] for h in handles], dtype=np.int64)
        counts = self._counts(n_more, len(handles))
        self._log_round("extend", idx, counts)
        self.record.waves += 1
        for h, i, c in zip(handles, idx, counts, strict=True):
            self._rewards[h] = np.concatenate([self._rewards[h], self._draw(int(i), int(c))])
        return [self.group(h) for h in handles]

    def release(self, groups: Sequence[Group]) -> None:
        """Mark groups as dropped for this step."""
        for g in groups:
            self._check_handle(g.handle)
            if g.handle in (self.record.committed or []):
                raise ValueError(f"group {g.handle} was already committed; it cannot be released")
            self.record.released.append(g.handle)

    def trim(self, groups: Sequence[Group], keep: Sequence[np.ndarray]) -> list[Group]:
        """Keep only the responses at positions ``keep[j]`` of ``groups[j]`` (Reinforce-Ada's down-sampling); recorded
        as a ``("trim", indices, kept sizes)`` call (no round, wave or response)."""
        out, sizes = [], []
        for g, positions in zip(groups, keep, strict=True):
            self._check_handle(g.handle)
            if g.handle in self.record.released or g.handle in (self.record.committed or []):
                raise ValueError(f"group {g.handle} was released or committed and cannot be trimmed")
            pos = np.asarray(positions, dtype=np.int64)
            have = self._rewards[g.handle].size
            if pos.size == 0 or np.unique(pos).size != pos.size or pos.min() < 0 or pos.max() >= have:
                raise ValueError(f"trim of group {g.handle}: positions must be distinct, in [0, {have}), non-empty")
            self._rewards[g.handle] = self._rewards[g.handle][np.sort(pos)]
            out.append(self.group(g.handle))
            sizes.append(pos.size)
        idx = np.array([g.index for g in groups], dtype=np.int64)
        self.record.calls.append(("trim", idx, np.array(sizes, dtype=np.int64)))
        return out

    def commit(self, groups: Sequence[Group]) -> None:
        """Mark this step's training batch; a second commit in one step is an error (trainer contract)."""
        if self.record.committed is not None:
            raise RuntimeError(f"commit called twice in step {self.step}; commit every trained group at once")
        handles = [g.handle for g in groups]
        if len(set(handles)) != len(handles):
            raise ValueError("commit received the same group twice")
        current = set(self.record.generated)
        for h in handles:
            self._check_handle(h)
            if h not in current:
                raise ValueError(f"group {h} was not generated in step {self.step}")
            if h in self.record.released:
                raise ValueError(f"group {h} was released and cannot be committed")
        self.record.committed = handles

    def score(self, indices: np.ndarray) -> np.ndarray:
        """``value_fn(indices)`` as float64; ``NotImplementedError`` without a value function."""
        if self.value_fn is None:
            raise NotImplementedError("this FakeRolloutContext has no value_fn; pass value_fn= to use score()")
        idx = self._indices(indices)
        return np.asarray(self.value_fn(idx), dtype=np.float64).reshape(idx.shape)

    # ------------------------------------------------------------------------------------------- internals
    def _create(self, method: str, indices: Any, n: int | np.ndarray) -> list[Group]:
        idx = self._indices(indices)
        counts = self._counts(n, idx.size)
        self._log_round(method, idx, counts)
        out = []
        for i, c in zip(idx, counts, strict=True):
            handle = uuid.UUID(bytes=self._handle_rng.bytes(16), version=4).hex
            self._rewards[handle] = self._draw(int(i), int(c))
            self._index[handle] = int(i)
            self.record.generated.append(handle)
            out.append(Group(handle=handle, index=int(i)))
        return out

    def _log_round(self, method: str, idx: np.ndarray, counts: np.ndarray) -> None:
        self.record.calls.append((method, idx.copy(), counts.copy()))
        self.record.rounds += 1
        self.record.responses += int(counts.sum())
        self.total_rounds += 1
        self.total_responses += int(counts.sum())

    def _draw(self, index: int, count: int) -> np.ndarray:
        return (self._rng.random(count) < self.success_rates[index]).astype(np.float64)

    def _indices(self, indices: Any) -> np.ndarray:
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise ValueError(f"indices must be a 1-D integer array, got dtype {idx.dtype} shape {idx.shape}")
        idx = idx.astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_prompts):
            raise ValueError(f"indices must lie in [0, {self.num_prompts}); got {idx.min()}..{idx.max()}")
        return idx

    @staticmethod
    def _counts(n: int | np.ndarray, size: int) -> np.ndarray:
        counts = np.broadcast_to(np.asarray(n), (size,)) if np.ndim(n) == 0 else np.asarray(n)
        if counts.shape != (size,):
            raise ValueError(f"n must be an int or an array of {size} ints, got shape {counts.shape}")
        if counts.size and not np.issubdtype(counts.dtype, np.integer):
            raise ValueError(f"n must be integer, got dtype {counts.dtype}")
        counts = counts.astype(np.int64)
        if counts.size and counts.min() < 1:
            raise ValueError(f"every group needs n >= 1 responses, got min {counts.min()}")
        return counts

    def _check_handle(self, handle: str) -> None:
        if handle not in self._rewards:
            raise KeyError(f"unknown group handle {handle!r}")


def run_steps(
    curriculum: Curriculum,
    ctx: FakeRolloutContext,
    steps: int,
    after_observe: Callable[[], Any] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Drive ``steps`` full steps (run_step → observe(trained, screened) → after_observe → new_step).

    Returns:
        per step, the committed groups' ``(indices, n)`` as int64 arrays in commit order (the "proposals").
    """
    out = []
    for _ in range(steps):
        curriculum.run_step(ctx)
        trained = ctx.committed_with_rewards()
        curriculum.observe(trained, ctx.screened_with_rewards())
        if after_observe is not None:
            after_observe()
        out.append(
            (np.array([g.index for g in trained], dtype=np.int64), np.array([g.n for g in trained], dtype=np.int64))
        )
        ctx.new_step()
    return out


def roundtrip_state(state: dict, via: str) -> dict:
    """``state`` after a ``pickle`` or ``torch.save``/``torch.load`` round trip (how checkpoints carry it)."""
    if via == "pickle":
        import pickle

        return pickle.loads(pickle.dumps(state))
    import io

    import torch  # only for this helper: the strategies themselves stay torch-free

    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


def run_with_metrics(cur: Curriculum, ctx: FakeRolloutContext, steps: int) -> list[dict[str, float]]:
    """Run ``steps`` full steps (run_step, observe, new_step); return each step's run_step metrics."""
    out = []
    for _ in range(steps):
        out.append(cur.run_step(ctx))
        cur.observe(ctx.committed_with_rewards(), ctx.screened_with_rewards())
        ctx.new_step()
    return out
