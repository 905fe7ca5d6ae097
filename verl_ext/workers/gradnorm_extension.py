"""``cures_algorithm1``'s trainer extension: subset labels from the data and the actor-side gradient-norm producer.

Declared by ``CuresAlgorithm1Curriculum.extension``. In ``setup`` (end of the trainer's
``_setup``, after the curriculum is built) it

- attaches the per-prompt subset labels (``extra_info.subset``) when ``curriculum.params.subsets=data``;
- with ``sigma: gradnorm``, attaches :meth:`CuresGradNormExtension.measure` as the curriculum's producer.

``measure`` is called by the curriculum at the end of a subset's pilot, inside the step's ``prepare_step``, once the
pilot responses have been generated and scored and before anything of the step is trained (so at the pre-update
weights). It reads the pilot trajectories from TransferQueue (``prompts``, ``responses``, ``response_mask``), puts the
rollout replicas to sleep (freeing their memory for the actor, as verl does after sampling), runs
:func:`verl_ext.workers.gradnorm_worker.lm_head_gradnorm_on_worker` on every actor rank through verl's
``execute_with_func_generator``, then wakes the replicas with the (unchanged) actor weights so that the step's
training rollouts can be generated.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import transfer_queue as tq
from verl import DataProto

from verl_ext.curriculum.base import Group
from verl_ext.curriculum.cures_algorithm1 import CuresAlgorithm1Curriculum
from verl_ext.workers.gradnorm_worker import build_gradnorm_batch, lm_head_gradnorm_on_worker, split_norms

if TYPE_CHECKING:
    from verl_ext.trainer.extension import ExtensionHandle

logger = logging.getLogger(__name__)

__all__ = ["CuresGradNormExtension", "subset_labels", "trajectory_keys"]

PARTITION = "train"


def subset_labels(extra_info: Sequence[object]) -> list[object]:
    """``extra_info.subset`` of every training row; raises naming the first rows without one."""
    missing = [i for i, e in enumerate(extra_info) if not isinstance(e, dict) or e.get("subset") is None]
    if missing:
        raise ValueError(
            f"curriculum.subsets=data but {len(missing)} training rows have no extra_info.subset (first rows: "
            f"{missing[:10]}); prepare the NuminaMath pool with scripts/prepare_data.py --dataset numina_pool, or set "
            "curriculum.params.subsets=equal"
        )
    return [e["subset"] for e in extra_info]  # type: ignore[index]


def trajectory_keys(listing: dict[str, dict], uids: Sequence[str]) -> dict[str, list[str]]:
    """Per group uid, its trajectory keys ``{uid}_{session}_{i}`` in (session, i) order — the order of its rewards."""
    want = set(uids)
    out: dict[str, list[tuple[int, int, str]]] = {u: [] for u in uids}
    for key, tag in listing.items():
        if tag.get("is_prompt") or "_" not in key:
            continue
        prefix, session, index = key.rsplit("_", 2)
        if prefix in want:
            out[prefix].append((int(session), int(index), key))
    return {u: [k for _, _, k in sorted(rows)] for u, rows in out.items()}


class CuresGradNormExtension:
    """Trainer extension of ``cures_algorithm1`` (protocol: ``verl_ext.trainer.extension.TrainerExtension``)."""

    def __init__(self, chunk: int = 4096) -> None:
        self.chunk = int(chunk)  # trajectories read from TransferQueue and sent to the workers at a time
        self._handle: ExtensionHandle | None = None
        self.last_seconds = 0.0
        self.last_trajectories = 0

    def setup(self, handle: ExtensionHandle) -> None:
        """Attach subset labels and, for ``sigma: gradnorm``, the producer; refuse engines it cannot run on."""
        curriculum = handle.curriculum
        if not isinstance(curriculum, CuresAlgorithm1Curriculum):
            raise TypeError(f"CuresGradNormExtension needs the cures_algorithm1 curriculum, got {type(curriculum)}")
        self._handle = handle
        if curriculum.config.subsets == "data":
            curriculum.set_subset_labels(subset_labels(list(handle.train_dataset.dataframe["extra_info"])))
        if curriculum.config.sigma != "gradnorm":
            return
        actor = handle.config.actor_rollout_ref.actor
        strategy = str(actor.get("strategy", "fsdp"))
        if strategy not in ("fsdp", "fsdp2"):
            raise ValueError(
                f"curriculum.sigma=gradnorm measures gradient norms on FSDP actor workers; actor_rollout_ref.actor."
                f"strategy={strategy!r} is not supported (valid: fsdp, fsdp2), or use curriculum.params.sigma=bernoulli"
            )
        sp = int(actor.get("ulysses_sequence_parallel_size", 1) or 1)
        if sp != 1:
            raise ValueError(
                f"curriculum.sigma=gradnorm splits trajectories over all actor ranks; actor_rollout_ref.actor."
                f"ulysses_sequence_parallel_size={sp} is not supported (valid: 1)"
            )
        curriculum.set_gradnorm_producer(self.measure)
        logger.info("cures_algorithm1: gradient norms of the pilot (%s) measured on the actor workers",
                    curriculum.config.gradnorm_params)  # fmt: skip

    def measure(self, groups: Sequence[Group]) -> list[np.ndarray]:
        """Per pilot group, the LM-head gradient norm of each response (in the order of its rewards)."""
        handle = self._handle
        if handle is None:
            raise RuntimeError("CuresGradNormExtension.measure called before setup")
        t0 = time.perf_counter()
        uids = [g.handle for g in groups]
        listing = (tq.kv_list(PARTITION) or {}).get(PARTITION, {})
        keys_of = trajectory_keys(listing, uids)
        for g in groups:
            if len(keys_of[g.handle]) != g.n:
                raise RuntimeError(
                    f"pilot group of prompt {g.index} has {g.n} rewards but {len(keys_of[g.handle])} trajectories in "
                    "TransferQueue; were they released before the gradient norms were measured?"
                )
        keys = [k for u in uids for k in keys_of[u]]
        wg = handle.actor_rollout_wg
        temperature = float(handle.config.actor_rollout_ref.rollout.temperature)
        parts: list[np.ndarray] = []
        handle.checkpoint_manager.sleep_replicas()
        try:
            for start in range(0, len(keys), self.chunk):  # bounded driver memory (a subset's pilot is ~40k)
                chunk = keys[start : start + self.chunk]
                fields = ["prompts", "responses", "response_mask"]
                td = tq.kv_batch_get(keys=chunk, partition_id=PARTITION, select_fields=fields)
                rows = range(len(chunk))
                batch = build_gradnorm_batch(
                    [td["prompts"][j] for j in rows],
                    [td["responses"][j] for j in rows],
                    [td["response_mask"][j] for j in rows],
                    world_size=wg.world_size,
                    temperature=temperature,
                )
                # a DataProto: its chunks are a list, which verl's worker group scatters over the ranks (a
                # TensorDict's are a tuple, which it would broadcast whole to every rank)
                out = wg.execute_with_func_generator(lm_head_gradnorm_on_worker, DataProto(batch=batch))
                parts.append(np.asarray(out["gradnorm"], dtype=np.float64)[: len(chunk)])
        finally:
            handle.checkpoint_manager.update_weights(handle.global_steps)
        norms = np.concatenate(parts)
        self.last_seconds = time.perf_counter() - t0
        self.last_trajectories = len(keys)
        logger.info("cures_algorithm1 step %d: gradient norms of %d pilot trajectories in %.1f s (mean %.4g)",
                    handle.global_steps, len(keys), self.last_seconds, float(norms.mean()))  # fmt: skip
        return split_norms(norms, [g.n for g in groups])

    # ------------------------------------------------------------------ the rest of the protocol: nothing to do
    def load(self, handle: ExtensionHandle, step_dir: str) -> None:
        """No state of its own: the pilot moments live in the curriculum's state."""

    def save(self, handle: ExtensionHandle, step_dir: str) -> None:
        """No state of its own."""

    def on_init_end(self, handle: ExtensionHandle) -> None:
        """Nothing before the first weight push."""

    def after_step(self, handle: ExtensionHandle, trained: Sequence[Group]) -> dict[str, float]:
        """No metrics beyond the curriculum's ``cures/gradnorm_*``."""
        return {}

    def score(self, indices: np.ndarray) -> np.ndarray:
        """No prompt-value model."""
        raise NotImplementedError("cures_algorithm1 has no prompt-value model")
