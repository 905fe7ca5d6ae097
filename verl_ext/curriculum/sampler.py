"""Epoch-based sampling without replacement over the prompt pool (PCL Alg. 1 step 1; docs/pcl.md)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["PassSampler", "PassSampling", "get_rng_state", "set_rng_state"]


def get_rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """A deep copy of the generator's bit-generator state (plain dict of ints; picklable)."""
    return copy.deepcopy(rng.bit_generator.state)


def set_rng_state(rng: np.random.Generator, state: Mapping[str, Any]) -> None:
    """Restore :func:`get_rng_state` in place, so a :class:`PassSampler` sharing ``rng`` follows it."""
    rng.bit_generator.state = copy.deepcopy(dict(state))


class PassSampler:
    """Serves prompts from a seeded permutation of ``0..num_prompts-1``, one pass (data epoch) at a time.

    One call never returns a prompt twice: when the current pass has fewer than ``k`` unused prompts left,
    the remainder is skipped (counted in ``dropped_at_pass_end``) and the call is served from a fresh pass
    (PCL Alg. 1 step 1, "pass end -> skip the remainder"; docs/pcl.md).

    Args:
        num_prompts: pool size P.
        rng: the owning curriculum's generator; the sampler draws its permutations from it, so the
            curriculum's single RNG state makes resumes exact.
    """

    def __init__(self, num_prompts: int, rng: np.random.Generator) -> None:
        if num_prompts < 1:
            raise ValueError(f"num_prompts must be >= 1, got {num_prompts}")
        self.num_prompts = int(num_prompts)
        self._rng = rng
        self._perm = rng.permutation(self.num_prompts)
        self._pos = 0
        self.data_epoch = 0
        self.dropped_at_pass_end = 0

    @property
    def remaining(self) -> int:
        """Unused prompts left in the current pass."""
        return self.num_prompts - self._pos

    def next(self, k: int) -> np.ndarray:
        """The next ``k`` prompts (int64, shape ``(k,)``), all distinct.

        Raises:
            ValueError: ``k`` exceeds the pool size (no pass could serve it).
        """
        if k < 0 or k > self.num_prompts:
            raise ValueError(
                f"cannot draw {k} distinct prompts from a pool of {self.num_prompts}; "
                "lower the batch size or candidate multiplier k, or use a larger dataset"
            )
        if k > self.remaining:
            self.dropped_at_pass_end += self.remaining
            self._new_pass()
        out = self._perm[self._pos : self._pos + k].astype(np.int64, copy=True)
        self._pos += k
        return out

    def _new_pass(self) -> None:
        self._perm = self._rng.permutation(self.num_prompts)
        self._pos = 0
        self.data_epoch += 1

    def state_dict(self) -> dict[str, Any]:
        """Permutation, position and counters (the RNG belongs to the owner and is saved by it)."""
        return {
            "perm": self._perm.copy(),
            "pos": self._pos,
            "data_epoch": self.data_epoch,
            "dropped_at_pass_end": self.dropped_at_pass_end,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        perm = np.asarray(state["perm"], dtype=np.int64)
        if perm.shape != (self.num_prompts,):
            raise ValueError(
                f"checkpointed pass permutation has {perm.shape[0]} prompts but the pool has {self.num_prompts}; "
                "resume with the same data.train_files"
            )
        self._perm = perm.copy()
        self._pos = int(state["pos"])
        self.data_epoch = int(state["data_epoch"])
        self.dropped_at_pass_end = int(state["dropped_at_pass_end"])


class PassSampling:
    """Mixin of the strategies that draw prompts from one seeded pass permutation (uniform, probe, DS, SPEED).

    Holds the single generator (``rng``) and the :class:`PassSampler` drawing from it, refuses a pool too small for
    one step, and checkpoints both under the keys ``rng`` and ``sampler``.
    """

    rng: np.random.Generator
    sampler: PassSampler

    def init_pass(self, num_prompts: int, seed: int, per_step: int, what: str) -> None:
        """Seed ``rng`` and the sampler; ``per_step`` distinct prompts (described by ``what``) are drawn per step."""
        if per_step > num_prompts:
            raise ValueError(
                f"{what} = {per_step} distinct prompts per step but the pool has {num_prompts}; "
                "lower data.train_batch_size (or curriculum.k where the method has one), or use a larger dataset"
            )
        self.rng = np.random.default_rng(seed)
        self.sampler = PassSampler(num_prompts, self.rng)

    def pass_state(self) -> dict[str, Any]:
        """``{"rng": bit-generator state (deep copy), "sampler": pass state}``."""
        return {"rng": get_rng_state(self.rng), "sampler": self.sampler.state_dict()}

    def load_pass_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`pass_state` in place (the sampler keeps sharing the restored generator)."""
        set_rng_state(self.rng, state["rng"])
        self.sampler.load_state_dict(state["sampler"])

    def state_dict(self) -> dict[str, Any]:
        """The whole state of a strategy whose only state is its pass (uniform, probe)."""
        return self.pass_state()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.load_pass_state(state)
