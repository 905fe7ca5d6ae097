"""Read logged training metrics into a step-indexed DataFrame, whatever the logger was.

Accepted: JSON lines, either flat (one object per step with ``"step"`` and metric names) or as verl's own ``file``
tracking backend writes them (``trainer.logger=[console,file]``, ``verl/utils/tracking.py`` ``FileLogger``:
``{"step": s, "data": {metric: value}}`` at ``$VERL_FILE_LOGGER_PATH``), a wandb CSV export
(columns ``_step``/``Step`` and ``<run> - <metric>``, ``__MIN``/``__MAX`` companions dropped) and tensorboard event
files (a run folder or one ``events.out.tfevents.*`` file, read with tensorboard's ``EventAccumulator``). Also the
per-step CurES allocation dump: JSON lines ``{"step": s, "phat": [...], "n": [...]}``.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = ["AllocSnapshot", "load_alloc_dump", "load_metrics", "parse_run_specs"]

STEP_COLUMNS = ("step", "_step", "Step", "trainer/global_step", "global_step")


def _finalise(df: pd.DataFrame, source: Path) -> pd.DataFrame:
    step_col = next((c for c in STEP_COLUMNS if c in df.columns), None)
    if step_col is None:
        raise ValueError(f"{source}: no step column; expected one of {STEP_COLUMNS}")
    df = df.rename(columns={step_col: "step"}).dropna(subset=["step"])
    df["step"] = df["step"].astype(int)
    # a resumed run re-logs steps: keep the latest record of each step
    return df.drop_duplicates("step", keep="last").sort_values("step").set_index("step")


def _load_jsonl(path: Path) -> pd.DataFrame:
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{lineno}: not a JSON object per line ({err})") from err
        if isinstance(rec.get("data"), dict):  # verl's FileLogger nests the metrics under "data"
            rec = {**rec["data"], "step": rec.get("step")}
        rows.append({k: v for k, v in rec.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return _finalise(pd.DataFrame(rows), path)


def _load_wandb_csv(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path)
    keep = [c for c in df.columns if not (c.endswith("__MIN") or c.endswith("__MAX"))]
    df = df[keep].rename(columns=lambda c: c.split(" - ", 1)[1] if " - " in c else c)
    return _finalise(df.apply(pd.to_numeric, errors="coerce"), path)


def _load_tensorboard(path: Path) -> pd.DataFrame:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path), size_guidance={"scalars": 0})
    acc.Reload()
    series = {tag: pd.Series({e.step: e.value for e in acc.Scalars(tag)}) for tag in acc.Tags()["scalars"]}
    if not series:
        raise ValueError(f"{path}: no scalar summaries in the tensorboard events")
    df = pd.DataFrame(series)
    df.index.name = "step"
    return _finalise(df.reset_index(), path)


def load_metrics(path: str | Path) -> pd.DataFrame:
    """Metrics of one run as a DataFrame indexed by step, one column per metric name."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"metrics log {path} not found")
    if path.is_dir() or "tfevents" in path.name:
        return _load_tensorboard(path)
    if path.suffix == ".csv":
        return _load_wandb_csv(path)
    return _load_jsonl(path)


@dataclass(frozen=True)
class AllocSnapshot:
    """One step of CurES allocation: per-prompt estimated accuracy p̂ and rollouts n, both shape ``(m,)``."""

    step: int
    phat: np.ndarray
    n: np.ndarray


def load_alloc_dump(path: str | Path) -> list[AllocSnapshot]:
    """Read the per-step ``(p̂, n)`` dump; rows need ``step`` and equal-length ``phat`` (or ``p_hat``) and ``n``."""
    out = []
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        rec = json.loads(line)
        phat = rec.get("phat", rec.get("p_hat"))
        if phat is None or "n" not in rec or "step" not in rec:
            raise ValueError(f"{path}:{lineno}: need keys step, phat (or p_hat) and n; got {sorted(rec)}")
        phat_arr, n_arr = np.asarray(phat, dtype=np.float64), np.asarray(rec["n"], dtype=np.float64)
        if phat_arr.shape != n_arr.shape:
            raise ValueError(f"{path}:{lineno}: phat has shape {phat_arr.shape} but n has {n_arr.shape}")
        out.append(AllocSnapshot(int(rec["step"]), phat_arr, n_arr))
    return sorted(out, key=lambda s: s.step)


def is_finite_series(df: pd.DataFrame, column: str) -> bool:
    """True when ``column`` exists and has at least one finite value."""
    return column in df.columns and any(math.isfinite(v) for v in df[column].dropna())


def parse_run_specs(specs: list[str] | tuple[str, ...], example: str, key_name: str = "LABEL") -> dict[str, Path]:
    """``["LABEL=PATH", ...]`` (the scripts' ``--run``) -> ``{label: path}``; a malformed entry exits naming it."""
    runs: dict[str, Path] = {}
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep or not label or not path:
            raise SystemExit(f"--run {spec!r}: expected {key_name}=PATH, e.g. {example}")
        runs[label] = Path(path)
    return runs
