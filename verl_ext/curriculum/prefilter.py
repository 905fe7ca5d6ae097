"""Pre-filter (PCL F.3; docs/methods/prefilter.md): drop prompts the initial policy always or never solves.

Offline, each prompt x gets n_pre responses from π_0 and p̂_ref(x) = c/n_pre; the training set keeps
D' = {x : p_low < p̂_ref(x) < p_high} (strict). :func:`prefilter_keep` is that rule and
:func:`summarize_prefilter` the bucket counts of the report. Training on D' is uniform GRPO: the registered
``prefilter`` curriculum serves the next m prompts of a seeded permutation of the filtered file, n responses
each, and optionally reports ``prefilter/pref_acc`` (mean p̂_ref of the trained prompts, PCL Fig. 9).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from verl_ext.curriculum.base import Curriculum, CurriculumConfig, RolloutContext, register_curriculum
from verl_ext.curriculum.sampler import PassSampler, get_rng_state, set_rng_state

__all__ = ["PrefilterConfig", "PrefilterCurriculum", "load_pref_table", "prefilter_keep", "summarize_prefilter"]


def _check_counts(n_correct: np.ndarray | Sequence[int], n_pre: int) -> np.ndarray:
    c = np.asarray(n_correct)
    if c.ndim != 1:
        raise ValueError(f"n_correct must be 1-D (one count per prompt), got shape {c.shape}")
    if n_pre < 1:
        raise ValueError(f"n_pre must be >= 1 (PCL: 16), got {n_pre}")
    if c.size and (not np.all(c == np.round(c)) or c.min() < 0 or c.max() > n_pre):
        raise ValueError(f"n_correct must hold integers in [0, n_pre={n_pre}]; check the pilot scoring")
    return c.astype(np.int64)


def _check_band(p_low: float, p_high: float) -> None:
    if not 0.0 <= p_low < p_high <= 1.0:
        raise ValueError(f"need 0 <= p_low < p_high <= 1 (PCL: 0, 1), got p_low={p_low}, p_high={p_high}")


def prefilter_keep(
    n_correct: np.ndarray | Sequence[int], n_pre: int, p_low: float = 0.0, p_high: float = 1.0
) -> np.ndarray:
    """Pre-filter rule: keep x iff p_low < c_x / n_pre < p_high (strict on both sides).

    Args:
        n_correct: c, correct responses per prompt, shape ``(P,)``, integers in [0, n_pre].
        n_pre: responses per prompt in the offline pass (PCL: 16).
        p_low, p_high: the band (PCL: 0, 1, i.e. drop all-wrong and all-correct prompts).

    Returns:
        bool mask of shape ``(P,)``.
    """
    c = _check_counts(n_correct, n_pre)
    _check_band(p_low, p_high)
    p_hat = c / n_pre  # compare ratios, so band edges such as 0.25 with n_pre = 16 hit exactly
    return (p_hat > p_low) & (p_hat < p_high)


def summarize_prefilter(
    n_correct: np.ndarray | Sequence[int],
    n_pre: int,
    p_low: float = 0.0,
    p_high: float = 1.0,
    n_truncated: np.ndarray | Sequence[int] | None = None,
) -> dict[str, Any]:
    """Bucket counts and the histogram of correct counts for ``<stem>.prefilter_report.json``.

    Buckets partition the prompts: ``kept`` + ``all_wrong`` + ``all_correct`` + ``below_band`` + ``above_band``
    = ``total`` (below/above: 0 < c < n_pre but outside a narrower band). ``histogram[c]`` counts prompts with
    c correct, c = 0..n_pre. JSON-serialisable (ints and floats only).
    """
    c = _check_counts(n_correct, n_pre)
    keep = prefilter_keep(c, n_pre, p_low, p_high)
    p_hat = c / n_pre
    mixed = (c > 0) & (c < n_pre)
    out: dict[str, Any] = {
        "n_pre": int(n_pre),
        "p_low": float(p_low),
        "p_high": float(p_high),
        "total": int(c.size),
        "kept": int(keep.sum()),
        "all_wrong": int((c == 0).sum()),
        "all_correct": int((c == n_pre).sum()),
        "below_band": int((mixed & ~keep & (p_hat <= p_low)).sum()),
        "above_band": int((mixed & ~keep & (p_hat >= p_high)).sum()),
        "kept_frac": float(keep.mean()) if c.size else 0.0,
        "mean_p_ref": float(p_hat.mean()) if c.size else 0.0,
        "histogram": np.bincount(c, minlength=n_pre + 1).astype(int).tolist(),
    }
    if n_truncated is not None:
        t = np.asarray(n_truncated, dtype=np.int64)
        if t.shape != c.shape:
            raise ValueError(f"n_truncated must have one count per prompt ({c.size}), got shape {t.shape}")
        out["responses_truncated"] = int(t.sum())
    return out


def load_pref_table(path: str, num_prompts: int) -> np.ndarray:
    """π_ref accuracy per training row from a parquet with columns ``index`` and ``p_ref`` (the pre-filter's
    ``<stem>.pref.parquet``, whose ``index`` is the row in the filtered file and −1 for dropped prompts, which are
    skipped); NaN for rows absent from the table."""
    import pyarrow.parquet as pq  # lazy: only this optional path needs pyarrow

    table = pq.read_table(path)
    if not {"index", "p_ref"} <= set(table.column_names):
        raise ValueError(f"π_ref table {path} needs columns index and p_ref, has {table.column_names}")
    index = table.column("index").to_numpy().astype(np.int64)
    kept = index != -1  # −1 marks prompts the pre-filter dropped (never trained)
    index, p_ref = index[kept], table.column("p_ref").to_numpy().astype(np.float64)[kept]
    if index.size and (index.min() < 0 or index.max() >= num_prompts):
        raise ValueError(f"π_ref table {path} has indices outside [0, {num_prompts}); use the training file's rows")
    out = np.full(num_prompts, np.nan)
    out[index] = p_ref
    return out


@dataclasses.dataclass
class PrefilterConfig(CurriculumConfig):
    """Uniform training on the pre-filtered file.

    Attributes:
        pref_table: optional parquet (index, p_ref) for ``prefilter/pref_acc``; ``None`` disables that metric.
    """

    pref_table: str | None = None


@register_curriculum("prefilter")
class PrefilterCurriculum(Curriculum):
    """The next m prompts of the pass permutation of D', n responses each, all trained."""

    config_class = PrefilterConfig

    def __init__(self, config: PrefilterConfig, num_prompts: int, pref_acc: np.ndarray | None = None) -> None:
        super().__init__(config, num_prompts)
        if config.batch_size > num_prompts:
            raise ValueError(
                f"batch_size={config.batch_size} exceeds the {num_prompts} prompts kept by the pre-filter; "
                "lower data.train_batch_size or widen the band (p_low, p_high)"
            )
        if pref_acc is None and config.pref_table:
            pref_acc = load_pref_table(config.pref_table, num_prompts)
        if pref_acc is not None and np.shape(pref_acc) != (num_prompts,):
            raise ValueError(f"pref_acc must have one value per training row ({num_prompts}), got {np.shape(pref_acc)}")
        self.pref_acc = None if pref_acc is None else np.asarray(pref_acc, dtype=np.float64)
        self.rng = np.random.default_rng(config.seed)
        self.sampler = PassSampler(num_prompts, self.rng)

    def run_step(self, ctx: RolloutContext) -> dict[str, float]:
        """Submit the next m prompts with n responses each and commit them all."""
        indices = self.sampler.next(self.config.batch_size)
        ctx.commit(ctx.submit(indices, self.config.n))
        metrics: dict[str, float] = {}
        if self.pref_acc is not None:
            values = self.pref_acc[indices]
            if np.isfinite(values).any():
                metrics["prefilter/pref_acc"] = float(np.nanmean(values))
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """RNG and pass position (the pre-filter itself is offline and stateless)."""
        return {"rng": get_rng_state(self.rng), "sampler": self.sampler.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        set_rng_state(self.rng, state["rng"])
        self.sampler.load_state_dict(state["sampler"])
