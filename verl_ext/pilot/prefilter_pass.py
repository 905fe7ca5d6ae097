"""Pre-filter offline pass (PCL App. F.3; docs/methods/prefilter.md): n_pre responses per prompt from π_0 → D'.

Outputs for ``<stem>.parquet``:

- ``<stem>.prefilter.parquet``: the kept rows, unchanged except ``extra_info.index``, re-numbered to the new row
  position (the data contract requires index = row position); the original index is kept as
  ``extra_info.orig_index``.
- ``<stem>.pref.parquet``: one row per input prompt, columns ``orig_index`` (input index), ``index`` (row in the
  filtered file, −1 if dropped), ``n_correct``, ``n_truncated``, ``p_ref`` = n_correct / n_pre. ``index`` is the key
  the ``prefilter`` curriculum's ``curriculum.params.pref_table`` reader uses (it skips −1), so the table works as is
  on the filtered training file.
- ``<stem>.prefilter_report.json``: bucket counts and histogram (``summarize_prefilter``), model hash, sampling
  parameters, seed, verl version and measured wall-clock / GPU-hours (reported apart from training "Time").
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from verl_ext.curriculum.prefilter import prefilter_keep, summarize_prefilter
from verl_ext.pilot.files import write_json, write_table
from verl_ext.pilot.rollouts import PromptSet

logger = logging.getLogger(__name__)

__all__ = ["output_paths", "pref_table", "kept_rows", "write_prefilter_outputs"]


def output_paths(data: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """``{kept, pref, report}`` paths of the outputs for input ``data`` (``<stem>`` = file name without .parquet)."""
    stem = Path(data).name.removesuffix(".parquet")
    out = Path(out_dir)
    return {
        "kept": out / f"{stem}.prefilter.parquet",
        "pref": out / f"{stem}.pref.parquet",
        "report": out / f"{stem}.prefilter_report.json",
    }


def pref_table(orig_index: np.ndarray, keep: np.ndarray, n_correct: np.ndarray, n_truncated: np.ndarray,
               n_pre: int) -> pd.DataFrame:  # fmt: skip
    """The π_ref table, one row per input prompt (P,): orig_index, index (new row or −1), n_correct, n_truncated,
    p_ref = n_correct / n_pre."""
    new = np.full(keep.shape, -1, dtype=np.int64)
    new[keep] = np.arange(int(keep.sum()), dtype=np.int64)
    return pd.DataFrame({
        "orig_index": np.asarray(orig_index, dtype=np.int64),
        "index": new,
        "n_correct": np.asarray(n_correct, dtype=np.int64),
        "n_truncated": np.asarray(n_truncated, dtype=np.int64),
        "p_ref": np.asarray(n_correct, dtype=np.float64) / n_pre,
    })  # fmt: skip


def kept_rows(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """Kept rows in input order; ``extra_info.index`` → new row position, old value in ``extra_info.orig_index``."""
    kept = frame.loc[keep].reset_index(drop=True).copy()
    kept["extra_info"] = [
        {**dict(info), "index": new, "orig_index": int(info["index"])} for new, info in enumerate(kept["extra_info"])
    ]
    return kept


def write_prefilter_outputs(
    prompts: PromptSet,
    n_correct: np.ndarray,
    n_truncated: np.ndarray,
    n_pre: int,
    p_low: float,
    p_high: float,
    paths: dict[str, Path],
    provenance: dict[str, Any],
) -> dict[str, Any]:
    """Apply the band, write the three outputs, return the report.

    Args:
        prompts: the input file. n_correct, n_truncated: per prompt, int (P,). provenance: model hash, sampling,
            seed, verl version, timings (merged into the report).

    Raises:
        ValueError: when no prompt falls strictly inside (p_low, p_high) (nothing written).
    """
    from verl_ext.data.contract import write_dataset

    keep = prefilter_keep(n_correct, n_pre, p_low, p_high)
    summary = summarize_prefilter(n_correct, n_pre, p_low, p_high, n_truncated=n_truncated)
    if not keep.any():
        raise ValueError(
            f"the pre-filter kept no prompt of {summary['total']} (all_wrong={summary['all_wrong']}, "
            f"all_correct={summary['all_correct']}, band ({p_low}, {p_high})); nothing was written. Check the "
            "model, sampling and reward, or widen the band"
        )
    write_dataset(kept_rows(prompts.frame, keep), paths["kept"])
    write_table(pref_table(prompts.index, keep, n_correct, n_truncated, n_pre), paths["pref"])
    report = {**summary, **provenance, "outputs": {k: p.name for k, p in paths.items()}}
    write_json(paths["report"], report)
    logger.info("pre-filter kept %d of %d prompts → %s", summary["kept"], summary["total"], paths["kept"])
    return report
