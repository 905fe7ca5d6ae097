"""``cures_release``: the authors' released CurES pipeline (docs/cures.md "cures_release"); reproduces Table 1.

Stage 0 (a GPU pilot, out of scope here) writes one table per subset with columns ``index, k, sigma``:
k = correct of 4 pilot rollouts and σ from :func:`release_sigma_sq`. This module turns it into per-prompt
copy counts s_i (:func:`shard_normalise`), frozen sampling weights (:func:`release_weights`), and each step draws
m prompts without replacement, drops s = 0, aligns Σ s to the GPU count (:func:`align_to_gpus`) and submits
``__rollout_n__ = copies_n · s_i`` responses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from verl_ext.curriculum.base import Curriculum, CurriculumConfig, RolloutContext, register_curriculum
from verl_ext.curriculum.cures import legacy_checkpoint_message

__all__ = [
    "CuresReleaseCurriculum",
    "CuresReleaseConfig",
    "align_to_gpus",
    "load_release_table",
    "release_sigma_sq",
    "release_weights",
    "shard_normalise",
]

logger = logging.getLogger(__name__)


def release_sigma_sq(k: int, grad_correct: Sequence[float], grad_wrong: Sequence[float], rollouts: int = 4) -> float:
    """Released σ² (CurES Eq. 21 with a = k/rollouts): ``a b² mean(gc²) + a² b mean(gw²) − a² b² (ḡc − ḡw)²``.

    Args:
        k: correct pilot rollouts (0..rollouts).
        grad_correct, grad_wrong: per-rollout gradient norms of each class; an empty class counts as ``[0]``.

    Example: k = 1, gc = [2], gw = [1, 1, 1] → 0.57421875; σ² = 0 at k ∈ {0, rollouts}.
    """
    if not 0 <= k <= rollouts:
        raise ValueError(f"k={k} must lie in [0, {rollouts}] (correct pilot rollouts)")
    gc = np.asarray(grad_correct if len(grad_correct) else [0.0], dtype=np.float64)
    gw = np.asarray(grad_wrong if len(grad_wrong) else [0.0], dtype=np.float64)
    a = k / rollouts
    b = 1.0 - a
    return float(a * b * b * np.mean(gc**2) + a * a * b * np.mean(gw**2) - a * a * b * b * (gc.mean() - gw.mean()) ** 2)


def shard_normalise(sigma: np.ndarray, shards: int = 8, total: int = 8192) -> np.ndarray:
    """Copies per prompt ``s_i = round(total·σ_i/Σ_shard σ)`` over contiguous shards, int64 shape ``(P,)``.

    Shard r holds rows ``[r⌊P/shards⌋, (r+1)⌊P/shards⌋)``; the last also takes the remainder (the released
    stage-0 ranks). Rounding is half-to-even (Python ``round``). A shard whose σ all vanish gets s = 0.
    """
    sig = np.asarray(sigma, dtype=np.float64)
    if sig.ndim != 1 or sig.size < shards:
        raise ValueError(f"need a 1-D σ with at least {shards} rows (one per shard), got shape {sig.shape}")
    if not np.all(np.isfinite(sig)) or np.any(sig < 0):
        raise ValueError("σ must be finite and >= 0 (column sigma of the release table)")
    width = sig.size // shards
    out = np.zeros(sig.size, dtype=np.int64)
    for r in range(shards):
        stop = sig.size if r == shards - 1 else (r + 1) * width
        part = sig[r * width : stop]
        if part.sum() > 0:
            out[r * width : stop] = np.rint(total * part / part.sum()).astype(np.int64)
    return out


def release_weights(k: np.ndarray, rollouts: int = 4) -> np.ndarray:
    """Released sampling weights ``exp(sqrt(p̂(1−p̂))/(100(k+1)))`` with p̂ = (k+1)/(rollouts+2), shape of ``k``.

    Nearly uniform (max/min ≤ 1.003 for 4 rollouts, maximum at k = 0): the released code's ρ*.
    """
    kk = np.asarray(k, dtype=np.float64)
    p = (kk + 1.0) / (rollouts + 2.0)
    return np.exp(np.sqrt(p * (1.0 - p)) / (100.0 * (kk + 1.0)))


def align_to_gpus(s: np.ndarray, num_gpus: int) -> np.ndarray:
    """Add +1 copies round-robin from the largest s (ties: lower position) until Σ s % num_gpus == 0.

    Args:
        s: positive copy counts of the kept prompts, shape ``(k,)``.

    Returns:
        A new int64 array, shape ``(k,)``.
    """
    out = np.asarray(s, dtype=np.int64).copy()
    if out.size == 0:
        return out
    order = np.argsort(-out, kind="stable")
    deficit = (-int(out.sum())) % num_gpus
    for j in range(deficit):
        out[order[j % out.size]] += 1
    return out


def load_release_table(path: str) -> dict[str, np.ndarray]:
    """Read ``index, k, sigma`` from a .npz or .parquet file, sorted by index (shard order = row order)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"curriculum.release_table={path!r} does not exist; run the CurES stage-0 pilot first")
    if path.endswith(".npz"):
        with np.load(path) as data:
            cols = {c: np.asarray(data[c]) for c in ("index", "k", "sigma") if c in data}
    elif path.endswith(".parquet"):
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        cols = {c: table.column(c).to_numpy() for c in ("index", "k", "sigma") if c in table.column_names}
    else:
        raise ValueError(f"curriculum.release_table must be a .npz or .parquet file, got {path!r}")
    missing = {"index", "k", "sigma"} - set(cols)
    if missing:
        raise ValueError(f"release table {path!r} lacks column(s) {sorted(missing)}; expected index, k, sigma")
    order = np.argsort(cols["index"], kind="stable")
    return {
        "index": cols["index"][order].astype(np.int64),
        "k": cols["k"][order].astype(np.int64),
        "sigma": cols["sigma"][order].astype(np.float64),
    }


@dataclasses.dataclass
class CuresReleaseConfig(CurriculumConfig):
    """``cures_release`` options (the authors' released scripts; docs/cures.md).

    Attributes:
        release_table: .npz or .parquet with columns ``index, k, sigma`` (the stage-0 output of this subset).
        release_shards: stage-0 shard count (σ is normalised per shard).
        release_total: copies budget per shard (8192 in the released code).
        num_gpus: Σ s is aligned to a multiple of this.
        copies_n: responses per copy (``rollout.n=4`` in the released code).
    """

    n: int = 4
    release_table: str | None = None
    release_shards: int = 8
    release_total: int = 8192
    num_gpus: int = 8
    copies_n: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.release_table:
            raise ValueError("curriculum=cures_release needs curriculum.release_table (the stage-0 index,k,sigma file)")
        if min(self.release_shards, self.release_total, self.num_gpus, self.copies_n) < 1:
            raise ValueError("curriculum.release_shards/release_total/num_gpus/copies_n must be >= 1")


@register_curriculum("cures_release")
class CuresReleaseCurriculum(Curriculum):
    """``cures_release``: frozen weights and copies from the stage-0 table, no in-training updates."""

    config_class = CuresReleaseConfig

    def __init__(self, config: CuresReleaseConfig, num_prompts: int) -> None:
        super().__init__(config, num_prompts)
        self.config: CuresReleaseConfig = config
        table = load_release_table(str(config.release_table))
        idx = table["index"]
        if idx.size == 0 or idx.min() < 0 or idx.max() >= num_prompts or np.unique(idx).size != idx.size:
            raise ValueError(
                f"release table indices must be unique and lie in [0, {num_prompts}); regenerate it for this dataset"
            )
        if idx.size < config.batch_size:
            raise ValueError(f"release table has {idx.size} prompts, fewer than batch_size={config.batch_size}")
        if idx.size != num_prompts:
            logger.warning("release table covers %d of %d prompts; the rest are never drawn", idx.size, num_prompts)
        self.index = idx
        self.copies = shard_normalise(table["sigma"], config.release_shards, config.release_total)
        w = release_weights(table["k"])
        self.probs = w / w.sum()
        self.table_hash = hashlib.sha256(b"".join(a.tobytes() for a in table.values())).hexdigest()[:16]
        self.rng = np.random.default_rng(config.seed)
        self.step = 0

    def run_step(self, ctx: RolloutContext) -> dict[str, float]:
        """Draw m without replacement ∝ frozen weights, drop s = 0, align Σ s to the GPUs, submit copies_n·s."""
        cfg = self.config
        self.step = int(ctx.step)
        rows = self.rng.choice(self.index.size, cfg.batch_size, replace=False, p=self.probs)
        s = self.copies[rows]
        keep = s > 0
        if not keep.any():
            raise ValueError("every drawn prompt has s = 0 copies; check the release table's sigma column")
        s = align_to_gpus(s[keep], cfg.num_gpus)
        idx = self.index[rows[keep]]
        n = cfg.copies_n * s
        groups = ctx.submit(idx, n)
        ctx.commit(groups)
        return {
            "cures/alloc_min": float(n.min()),
            "cures/alloc_mean": float(n.mean()),
            "cures/alloc_max": float(n.max()),
            "cures/alloc_dropped": float((~keep).sum()),
        }

    def state_dict(self) -> dict[str, Any]:
        """RNG, step and the table hash (a resume must use the same stage-0 file)."""
        return {"rng": self.rng.bit_generator.state, "step": self.step, "table_hash": self.table_hash}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; refuses a different release table and a state of the old ``cures`` name."""
        if "mode" in state:
            raise ValueError(legacy_checkpoint_message("cures", {"mode": state["mode"]}))
        if state["table_hash"] != self.table_hash:
            raise ValueError("curriculum.release_table differs from the checkpointed run's; resume with the same file")
        self.rng.bit_generator.state = state["rng"]
        self.step = int(state["step"])
