"""The CPU demo's comparison (``scripts/demo.sh``): one row per method and one figure of metrics against step.

Input per method: the metrics verl's ``file`` tracking backend wrote (``trainer.logger=[console,file]``, read by
:func:`verl_ext.eval.logs.load_metrics`) and, optionally, ``wall_seconds.txt`` next to it (the run's wall time,
start-up included, written by the script). Columns, from the shared curriculum metrics of docs/metrics.md
(``verl_ext/trainer/metrics.py``) and verl's step timer:

- train accuracy (``curriculum/train_acc``, mean reward of the trained prompts): the final step's, the mean over all
  steps and the mean over the last quarter of the steps (one step of a few prompts is noisy);
- effective ratio (``curriculum/effective_ratio``, share of trained prompts with 0 < p̂ < 1), mean over steps;
- rollouts: total responses generated (``curriculum/responses`` summed over steps: screening and pilots included);
- validation accuracy (verl's ``val-core/<data_source>/acc/mean@k``, else ``.../reward/mean@k``; the mean over
  data sources): before training (step 0, ``trainer.val_before_train``; equal for every method, a sanity check) and
  at the last validation. Train accuracy is not comparable across curricula (CurES and PCL pick prompts near
  p = 0.5 on purpose); the held-out validation accuracy is;
- seconds per step: verl's ``timing_s/step``, the first step apart (it pays one-off warm-up: ~25 s on 2 cores for
  the tiny model) and the mean of the others.

Command line: ``scripts/demo_report.py``.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd

from verl_ext.eval.logs import load_metrics
from verl_ext.eval.plots import plot_runs

logger = logging.getLogger(__name__)

__all__ = ["DemoRow", "load_runs", "render_table", "summarize", "val_accuracy", "write_report"]

ACC = "curriculum/train_acc"
EFFECTIVE = "curriculum/effective_ratio"
RESPONSES = "curriculum/responses"
STEP_SECONDS = "timing_s/step"
# derived column of the figure: rollouts generated so far (x-axis "step", y cumulative responses)
CUM_RESPONSES = "demo/rollouts_cumulative"
# verl's validation metrics (verl/trainer/ppo/metric_utils.py process_validation_metrics): accuracy, else reward
VAL_PATTERNS = (re.compile(r"^val-core/.+/acc/mean@\d+$"), re.compile(r"^val-core/.+/reward/mean@\d+$"))
VAL_ACC = "demo/val_acc"
PLOTTED = (ACC, EFFECTIVE, VAL_ACC, CUM_RESPONSES, STEP_SECONDS)
WALL_FILE = "wall_seconds.txt"


@dataclass(frozen=True)
class DemoRow:
    """One method's summary; NaN where the run did not log the metric."""

    method: str
    steps: int
    acc_final: float
    acc_mean: float
    acc_last_quarter: float
    effective_ratio: float
    val_acc_start: float
    val_acc_end: float
    rollouts: int
    first_step_seconds: float
    seconds_per_step: float
    wall_seconds: float


HEADERS = {
    "method": "method",
    "steps": "steps",
    "acc_final": "train acc (final)",
    "acc_mean": "train acc (mean)",
    "acc_last_quarter": "train acc (last 1/4)",
    "effective_ratio": "effective ratio (mean)",
    "val_acc_start": "val acc (start)",
    "val_acc_end": "val acc (end)",
    "rollouts": "rollouts",
    "first_step_seconds": "s (step 1)",
    "seconds_per_step": "s/step (later)",
    "wall_seconds": "wall s",
}


def _series(df: pd.DataFrame, column: str) -> pd.Series:
    return df[column].dropna() if column in df.columns else pd.Series(dtype=float)


def _mean(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else math.nan


def val_accuracy(df: pd.DataFrame) -> pd.Series:
    """Validation accuracy per validated step (mean over data sources); empty when the run never validated."""
    for pattern in VAL_PATTERNS:
        columns = [c for c in df.columns if pattern.match(c)]
        if columns:
            return df[columns].mean(axis=1, skipna=True).dropna()
    return pd.Series(dtype=float)


def summarize(method: str, df: pd.DataFrame, wall_seconds: float = math.nan) -> DemoRow:
    """Summary row of one run's step-indexed metrics (``load_metrics`` output)."""
    acc = _series(df, ACC)
    quarter = acc.iloc[-max(1, len(acc) // 4) :] if len(acc) else acc
    responses = _series(df, RESPONSES)
    seconds = _series(df, STEP_SECONDS)
    val = val_accuracy(df)
    return DemoRow(
        method=method,
        steps=int(df.index.max()) if len(df) else 0,
        acc_final=float(acc.iloc[-1]) if len(acc) else math.nan,
        acc_mean=_mean(acc),
        acc_last_quarter=_mean(quarter),
        effective_ratio=_mean(_series(df, EFFECTIVE)),
        val_acc_start=float(val.loc[0]) if 0 in val.index else math.nan,
        val_acc_end=float(val.iloc[-1]) if len(val) and val.index[-1] > 0 else math.nan,
        rollouts=int(round(responses.sum())),
        first_step_seconds=float(seconds.iloc[0]) if len(seconds) else math.nan,
        seconds_per_step=_mean(seconds.iloc[1:]),
        wall_seconds=wall_seconds,
    )


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def render_table(rows: Sequence[DemoRow]) -> str:
    """A Markdown table, one line per method, columns in :data:`HEADERS` order."""
    names = [f.name for f in fields(DemoRow)]
    lines = ["| " + " | ".join(HEADERS[n] for n in names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(_fmt(getattr(r, n)) for n in names) + " |" for r in rows]
    return "\n".join(lines)


def _read_wall(metrics_path: Path) -> float:
    wall = metrics_path.parent / WALL_FILE
    try:
        return float(wall.read_text().strip())
    except (FileNotFoundError, ValueError):
        return math.nan


def load_runs(specs: Mapping[str, Path]) -> dict[str, tuple[pd.DataFrame, float]]:
    """``method -> metrics path`` to ``method -> (step-indexed metrics, wall seconds or NaN)``."""
    return {method: (load_metrics(path), _read_wall(Path(path))) for method, path in specs.items()}


def write_report(runs: Mapping[str, tuple[pd.DataFrame, float]], out_dir: Path) -> tuple[str, Path | None]:
    """Write ``demo_table.md``, ``demo_table.csv`` and ``demo_metrics.png`` under ``out_dir``.

    Returns the Markdown table and the figure's path (None when no run logged any plotted metric).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [summarize(method, df, wall) for method, (df, wall) in runs.items()]
    table = render_table(rows)
    (out_dir / "demo_table.md").write_text(table + "\n")
    with (out_dir / "demo_table.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[f.name for f in fields(DemoRow)])
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    frames = {}
    for method, (df, _) in runs.items():
        df = df.copy()
        if RESPONSES in df.columns:
            df[CUM_RESPONSES] = df[RESPONSES].fillna(0).cumsum()
        val = val_accuracy(df)
        if len(val):
            df[VAL_ACC] = val
        frames[method] = df
    steps = max((r.steps for r in rows), default=0)
    figure = plot_runs(frames, PLOTTED, out_dir / "demo_metrics.png", "step",
                       f"CPU demo: {', '.join(runs)} on the synthetic task, {steps} steps", ncols=3)  # fmt: skip
    return table, figure
