"""The arena's table (mean ± sd over seeds) and plots (docs/arena.md §"What the table says").

Columns, per curriculum, each a mean ± sd over seeds of a per-run figure:

* ``final acc``: held-out accuracy after the last applied step (all runs spent ≤ the same rollout budget);
* ``AUC``: (1/B)·∫₀ᴮ acc(r) dr over rollouts r, acc piecewise constant between steps and held after the last one;
* ``eff ratio``: mean over steps of the share of trained groups with 0 < successes < n;
* ``wasted``: mean over steps of the share of trained responses in zero-advantage groups;
* ``screened``: share of all generated responses not trained (screening, probes, pilots; steps weighted by their
  rollouts);
* ``sel ms``: mean selection + observe time per step (generation excluded);
* ``steps`` and ``rollouts``: applied steps and rollouts spent.

A second table gives pool health (shares of seen prompts by last observed p̂, the unseen share of the pool), coverage
and, for strategies that predict p, calibration of predicted vs realised success of the trained groups (Pearson,
Spearman, Brier = mean over responses of (p̂ − r)²), with the trainer's definitions
(:mod:`verl_ext.curriculum.observability`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from verl_ext.arena.harness import RunResult
from verl_ext.curriculum.observability import calibration

__all__ = ["auc", "calibration_of", "render", "summarize", "write_outputs"]


def auc(rollouts: Sequence[int], accuracy: Sequence[float], budget: int) -> float:
    """(1/B)·∫₀ᴮ acc(r) dr with acc(r) = accuracy[k] on [rollouts[k], rollouts[k+1]) and the last value to B."""
    r = np.asarray(rollouts, dtype=np.float64)
    a = np.asarray(accuracy, dtype=np.float64)
    if r.size != a.size or r.size == 0:
        raise ValueError(f"rollouts and accuracy must be non-empty and of equal length, got {r.size}, {a.size}")
    if np.any(np.diff(r) < 0) or r[-1] > budget:
        raise ValueError("rollouts must be non-decreasing and within the budget")
    edges = np.append(r, float(budget))
    return float((a * np.diff(edges)).sum() / budget)


def calibration_of(rows: np.ndarray) -> dict[str, float]:
    """:func:`verl_ext.curriculum.observability.calibration` of a run's ``(p̂, ȳ, n)`` rows, NaN where undefined."""
    out = calibration(rows[:, 0], rows[:, 1], rows[:, 2])
    return {k: out.get(k, math.nan) for k in ("pearson", "spearman", "brier")}


# PromptTracker.metrics() keys (the seen_* shares are absent when no step was applied)
_POOL = ("seen_lt_0.05", "seen_between", "seen_gt_0.95", "unseen", "coverage")


def _ms(values: Sequence[float], digits: int = 3) -> str:
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return "n/a"
    sd = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return f"{v.mean():.{digits}f} ± {sd:.{digits}f}"


def _weighted(shares: Sequence[float], weights: np.ndarray) -> float:
    """Σ share_k·w_k / Σ w_k (a per-step share weighted by the step's rollouts); NaN without steps."""
    w = np.asarray(weights, dtype=np.float64)
    return float(np.dot(shares, w) / w.sum()) if len(shares) and w.sum() > 0 else math.nan


def summarize(results: Sequence[RunResult], budget: int) -> dict[str, dict[str, list[float]]]:
    """Per curriculum, each column's per-seed values (see the module docstring), in first-appearance order."""
    out: dict[str, dict[str, list[float]]] = {}
    for r in results:
        row = out.setdefault(r.name, {})
        cal = calibration_of(r.calib) if r.calib is not None else {}
        values = {
            "final acc": r.accuracy[-1],
            "AUC": auc(r.rollouts, r.accuracy, budget),
            "eff ratio": float(np.mean(r.effective_ratio)) if r.effective_ratio else math.nan,
            "wasted": float(np.mean(r.wasted)) if r.wasted else math.nan,
            "screened": _weighted(r.screened, np.diff(r.rollouts)),
            "sel ms": float(np.mean(r.select_ms)) if r.select_ms else math.nan,
            "steps": float(len(r.rollouts) - 1),
            "rollouts": float(r.rollouts[-1]),
            "pearson": cal.get("pearson", math.nan),
            "spearman": cal.get("spearman", math.nan),
            "brier": cal.get("brier", math.nan),
            **{k: float(r.health.get(k, math.nan)) for k in _POOL},
        }
        for k, v in values.items():
            row.setdefault(k, []).append(float(v))
    return out


_MAIN = ("final acc", "AUC", "eff ratio", "wasted", "screened", "sel ms", "steps", "rollouts")
_HEALTH = (*_POOL, "pearson", "spearman", "brier")


def _table(summary: Mapping[str, Mapping[str, list[float]]], cols: Sequence[str], order: Sequence[str]) -> str:
    lines = ["| curriculum | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name in order:
        row = summary[name]
        cells = []
        for c in cols:
            digits = 0 if c in ("steps", "rollouts") else (2 if c == "sel ms" else 3)
            cells.append(_ms(row[c], digits))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(
    results: Sequence[RunResult], not_run: Mapping[str, str], budget: int, header: str = ""
) -> tuple[str, dict[str, dict[str, list[float]]]]:
    """The Markdown report: main table (sorted by AUC), health/calibration table, notes and the not-run list."""
    summary = summarize(results, budget)
    order = sorted(summary, key=lambda k: -float(np.nanmean(summary[k]["AUC"])))
    seeds = sorted({r.seed for r in results})
    parts = [header] if header else []
    parts.append(f"Rollout budget {budget} per run; seeds {seeds}; mean ± sd over seeds.\n")
    parts.append(_table(summary, _MAIN, order))
    parts.append("\nPool health (shares of seen prompts by last observed p-hat; unseen = share of the pool), coverage "
                 "(share of the pool trained), calibration of predicted vs realised success (strategies that predict p)"
                 ":\n")  # fmt: skip
    parts.append(_table(summary, _HEALTH, order))
    notes = {}
    for r in results:
        if r.notes:
            notes[r.name] = "; ".join(dict.fromkeys(r.notes))
    stops = {r.name: r.stop for r in results if not r.stop.startswith("budget")}
    if notes or stops:
        parts.append("\nNotes:")
        parts.extend(f"- {k}: {v}" for k, v in notes.items())
        parts.extend(f"- {k}: stopped at the {v} before the budget" for k, v in stops.items())
    if not_run:
        parts.append("\nNot run:")
        parts.extend(f"- {k}: {v}" for k, v in not_run.items())
    return "\n".join(parts) + "\n", summary


def write_outputs(
    results: Sequence[RunResult], not_run: Mapping[str, str], budget: int, out_dir: Path, header: str = ""
) -> tuple[str, list[Path]]:
    """Write ``arena_table.md``, ``arena_table.csv`` (one row per run) and the plots; return the report and paths."""
    import pandas as pd

    out_dir.mkdir(parents=True, exist_ok=True)
    text, _ = render(results, not_run, budget, header)
    (out_dir / "arena_table.md").write_text(text)
    rows = []
    for r in results:
        single = summarize([r], budget)[r.name]
        rows.append({"curriculum": r.name, "seed": r.seed, **{k: v[0] for k, v in single.items()}, "stop": r.stop})
    pd.DataFrame(rows).to_csv(out_dir / "arena_runs.csv", index=False)
    paths = [out_dir / "arena_table.md", out_dir / "arena_runs.csv"]
    paths.extend(plot(results, budget, out_dir))
    return text, paths


def plot(results: Sequence[RunResult], budget: int, out_dir: Path) -> list[Path]:
    """accuracy vs rollouts, effective ratio over steps, allocation vs p̂, calibration (reliability) PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_name: dict[str, list[RunResult]] = {}
    for r in results:
        by_name.setdefault(r.name, []).append(r)
    paths = []
    grid = np.linspace(0, budget, 200)
    fig, ax = plt.subplots(figsize=(9, 6))
    styles = ("-", "--", ":")  # matplotlib cycles 10 colours: the line style tells the 11th onwards apart
    for k, (name, runs) in enumerate(by_name.items()):
        curves = []
        for r in runs:
            pos = np.searchsorted(np.asarray(r.rollouts), grid, side="right") - 1
            curves.append(np.asarray(r.accuracy)[pos])
        ax.plot(grid, np.mean(curves, axis=0), label=name, linestyle=styles[(k // 10) % 3])
    ax.set(xlabel="rollouts (responses generated)", ylabel="held-out accuracy (simulated learner)",
           title="accuracy vs rollouts, mean over seeds")  # fmt: skip
    ax.legend(fontsize=7, ncol=2)
    paths.append(out_dir / "arena_accuracy.png")
    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 6))
    for k, (name, runs) in enumerate(by_name.items()):
        eff = np.asarray(runs[0].effective_ratio)
        if eff.size:
            w = max(1, eff.size // 50)
            smooth = np.convolve(eff, np.ones(w) / w, mode="valid")
            ax.plot(np.arange(smooth.size) + w, smooth, label=name, linestyle=styles[(k // 10) % 3])
    ax.set(
        xlabel="step",
        ylabel="effective ratio (moving mean)",
        title=f"effective ratio over steps (seed {results[0].seed})",
    )
    ax.legend(fontsize=7, ncol=2)
    paths.append(out_dir / "arena_effective_ratio.png")
    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
    plt.close(fig)

    alloc = {n: rs[0] for n, rs in by_name.items() if rs[0].alloc is not None}
    if alloc:
        fig, axes = plt.subplots(1, len(alloc), figsize=(4 * len(alloc), 3.5), squeeze=False)
        for ax, (name, r) in zip(axes[0], alloc.items(), strict=True):
            ax.scatter(r.alloc[:, 0], r.alloc[:, 1], s=3, alpha=0.3)
            ax.set(xlabel=f"p-hat ({r.alloc_source})", ylabel="responses n_i", title=name)
        paths.append(out_dir / "arena_allocation.png")
        fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
        plt.close(fig)

    calib = {n: np.concatenate([r.calib for r in rs if r.calib is not None]) for n, rs in by_name.items()
             if any(r.calib is not None for r in rs)}  # fmt: skip
    if calib:
        fig, ax = plt.subplots(figsize=(6, 6))
        bins = np.linspace(0, 1, 11)
        for name, rows in calib.items():
            which = np.clip(np.digitize(rows[:, 0], bins) - 1, 0, 9)
            xs, ys = [], []
            for b in range(10):
                sel = which == b
                if sel.sum() >= 5:
                    xs.append(rows[sel, 0].mean())
                    ys.append(rows[sel, 1].mean())
            ax.plot(xs, ys, marker="o", label=name)
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--")
        ax.set(xlabel="predicted p (binned)", ylabel="realised success of the trained group",
               title="calibration of strategies that predict p")  # fmt: skip
        ax.legend(fontsize=7)
        paths.append(out_dir / "arena_calibration.png")
        fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
        plt.close(fig)
    return paths
