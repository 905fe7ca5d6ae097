"""The CPU demo over several seeds: mean ± sd per method, the validation curve, and live per-step progress lines.

Builds on :mod:`verl_ext.eval.demo_report` (one summary row per run). Runs are labelled ``METHOD@SEED``; every
numeric column of :class:`~verl_ext.eval.demo_report.DemoRow` is averaged over a method's seeds with the sample
standard deviation (``ddof=1``; 0 for a single seed). ``val_gain`` is the per-seed difference
``val_acc_end - val_acc_start`` averaged over seeds (a paired difference: its sd is smaller than the two accuracies'
own spread when the seeds share the starting policy).

``follow`` turns the metrics verl's ``file`` tracking backend appends (one JSON object per step, unbuffered) into one
terminal line per step: ``step k/N``, seconds per step (verl's ``timing_s/step``) and the shared curriculum metrics.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd

from verl_ext.eval.demo_report import ACC, EFFECTIVE, RESPONSES, STEP_SECONDS, DemoRow, val_accuracy

logger = logging.getLogger(__name__)

__all__ = [
    "SEP",
    "SeedSummary",
    "aggregate",
    "follow",
    "progress_line",
    "render_seed_table",
    "render_val_curve",
    "split_label",
    "val_curve",
    "write_seed_report",
]

SEP = "@"  # METHOD@SEED
# columns of the seed table, in order: DemoRow field (or "val_gain") -> header
SEED_COLUMNS = {
    "val_acc_start": "val acc (start)",
    "val_acc_end": "val acc (end)",
    "val_gain": "val gain (end - start)",
    "effective_ratio": "effective ratio",
    "acc_mean": "train acc (mean)",
    "rollouts": "rollouts",
    "seconds_per_step": "s/step",
    "wall_seconds": "wall s",
}
# live line: metric -> short name (printed when the step logged it)
PROGRESS_KEYS = {ACC: "train_acc", EFFECTIVE: "eff_ratio", RESPONSES: "rollouts"}
# the prediction's calibration, for strategies that predict p (PCL's V, Beta posterior means; docs/metrics.md)
CALIB_PROGRESS = {"curriculum/calib/bias": "p_bias", "curriculum/calib/pearson": "p_pearson"}


def split_label(label: str) -> tuple[str, str]:
    """``"grpo@2"`` -> ``("grpo", "2")``; a label without ``@`` is one run of seed ``""``."""
    method, sep, seed = label.partition(SEP)
    if not method or (sep and not seed):
        raise ValueError(f"run label {label!r}: expected METHOD or METHOD{SEP}SEED, e.g. grpo{SEP}1")
    return method, seed


@dataclass(frozen=True)
class SeedSummary:
    """One method over its seeds: ``(mean, sd)`` per column of :data:`SEED_COLUMNS` (NaN when never logged)."""

    method: str
    seeds: tuple[str, ...]
    steps: int
    stats: dict[str, tuple[float, float]]


def _mean_sd(values: Iterable[float]) -> tuple[float, float]:
    vals = [float(v) for v in values if not math.isnan(float(v))]
    if not vals:
        return math.nan, math.nan
    return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0


def aggregate(rows: Mapping[str, DemoRow]) -> list[SeedSummary]:
    """``{"METHOD@SEED": DemoRow}`` -> one :class:`SeedSummary` per method, in first-seen order."""
    by_method: dict[str, list[tuple[str, DemoRow]]] = {}
    for label, row in rows.items():
        method, seed = split_label(label)
        by_method.setdefault(method, []).append((seed, row))
    out = []
    for method, runs in by_method.items():
        stats = {}
        for column in SEED_COLUMNS:
            if column == "val_gain":
                stats[column] = _mean_sd(r.val_acc_end - r.val_acc_start for _, r in runs)
            else:
                stats[column] = _mean_sd(getattr(r, column) for _, r in runs)
        out.append(SeedSummary(method, tuple(s for s, _ in runs), max(r.steps for _, r in runs), stats))
    return out


def _fmt(mean: float, sd: float) -> str:
    if math.isnan(mean):
        return "—"
    digits = 3 if abs(mean) < 10 else 1 if abs(mean) < 1000 else 0
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def render_seed_table(summaries: Sequence[SeedSummary]) -> str:
    """Markdown: one line per method, ``mean ± sd`` over its seeds in every column."""
    head = ["method", "seeds", "steps", *SEED_COLUMNS.values()]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        cells = [s.method, str(len(s.seeds)), str(s.steps)] + [_fmt(*s.stats[c]) for c in SEED_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def val_curve(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Greedy validation accuracy per validated step (rows) and method (columns ``<method> mean``/``sd``)."""
    per_method: dict[str, list[pd.Series]] = {}
    for label, df in frames.items():
        per_method.setdefault(split_label(label)[0], []).append(val_accuracy(df))
    columns = {}
    for method, series in per_method.items():
        table = pd.concat(series, axis=1)
        columns[f"{method} mean"] = table.mean(axis=1)
        columns[f"{method} sd"] = table.std(axis=1, ddof=1).fillna(0.0) if table.shape[1] > 1 else table.iloc[:, 0] * 0
    out = pd.DataFrame(columns)
    out.index.name = "step"
    return out.sort_index()


def render_val_curve(curve: pd.DataFrame) -> str:
    """Markdown: validation accuracy ``mean ± sd`` per validated step (rows) and method (columns)."""
    methods = [c[: -len(" mean")] for c in curve.columns if c.endswith(" mean")]
    lines = ["| step | " + " | ".join(methods) + " |", "|" + "---|" * (len(methods) + 1)]
    for step, row in curve.iterrows():
        cells = [_fmt(row[f"{m} mean"], row[f"{m} sd"]) for m in methods]
        lines.append(f"| {int(step)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_seed_report(rows: Mapping[str, DemoRow], frames: Mapping[str, pd.DataFrame], out_dir: Path) -> str:
    """Write ``demo_seeds.{md,csv}`` (table and validation curve) under ``out_dir``; return the Markdown."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summaries = aggregate(rows)
    curve = val_curve(frames)
    text = (
        "Mean ± sd over seeds\n\n" + render_seed_table(summaries) + "\n\n"
        "Greedy validation accuracy (mean ± sd over seeds) by step\n\n" + render_val_curve(curve)
    )
    (out_dir / "demo_seeds.md").write_text(text + "\n")
    with (out_dir / "demo_seeds.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["method", "seeds", "steps"] + [f"{c}_{k}" for c in SEED_COLUMNS for k in ("mean", "sd")])
        for s in summaries:
            writer.writerow([s.method, " ".join(s.seeds), s.steps] + [v for c in SEED_COLUMNS for v in s.stats[c]])
    curve.to_csv(out_dir / "demo_val_curve.csv")
    return text


def progress_line(record: Mapping[str, Any], total_steps: int, label: str) -> str | None:
    """One terminal line for a record of verl's file logger (``{"step": k, "data": {...}}``); None if not a step."""
    step, data = record.get("step"), record.get("data") or {}
    val = [v for k, v in data.items() if k.startswith("val-core/") and "/acc/mean@" in k]
    if not isinstance(step, int):
        return None
    parts = [f"[{label}] step {step}/{total_steps}"]
    if STEP_SECONDS in data:
        parts.append(f"{float(data[STEP_SECONDS]):.1f} s/step")
    for key, short in {**PROGRESS_KEYS, **CALIB_PROGRESS}.items():
        if key in data:
            parts.append(f"{short} {float(data[key]):.3f}")
    if val:
        parts.append(f"val_acc {statistics.fmean(float(v) for v in val):.3f}")
    return " | ".join(parts) if len(parts) > 1 else None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def follow(path: Path, total_steps: int, label: str, pid: int | None = None, out: IO[str] | None = None,
           poll_s: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> int:  # fmt: skip
    """Print :func:`progress_line` for each record appended to ``path`` until process ``pid`` exits; return #lines.

    Without ``pid`` it stops at the end of the file (one pass). Partial last lines are kept until completed.
    """
    stream = out or sys.stdout
    offset, pending, printed = 0, b"", 0
    while True:
        running = _alive(pid)
        if path.is_file():
            with path.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
            offset += len(chunk)
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                if not raw.strip():
                    continue
                try:
                    line = progress_line(json.loads(raw), total_steps, label)
                except json.JSONDecodeError:
                    logger.warning("%s: skipping a line that is not JSON: %r", path, raw[:80])
                    continue
                if line:
                    stream.write(line + "\n")  # the demo's terminal progress (the caller's stream)
                    stream.flush()
                    printed += 1
        if pid is None or not running:
            return printed
        sleep(poll_s)
