"""The papers' training figures from logged metrics (matplotlib, Agg backend, PNG files).

- effective ratio and train accuracy over steps or Time (``time/train_gen_hours``), several runs per figure
  (PCL Figs. 4–6 style: ``curriculum/effective_ratio``, ``curriculum/train_acc``);
- CurES allocation n_i against estimated accuracy p̂_i (Eq. 20), and the p̂ distribution over training (per-step dump,
  or the logged quantiles ``cures/phat_q05 … q95``);
- PCL value-model explained variance (Eq. 3, ``pcl/value/ev``) over steps, with the j-rollout references of Fig. 7.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on clusters or CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from verl_ext.eval.logs import AllocSnapshot, is_finite_series  # noqa: E402

logger = logging.getLogger(__name__)

__all__ = ["plot_acc_distribution", "plot_alloc_vs_acc", "plot_explained_variance", "plot_phat_quantiles", "plot_runs"]

TIME_KEY = "time/train_gen_hours"
NICE = {
    "curriculum/effective_ratio": "effective ratio (0 < p̂ < 1)",
    "curriculum/train_acc": "train accuracy (mean p̂ of trained prompts)",
    "pcl/value/ev": "explained variance (Eq. 3)",
    TIME_KEY: "Time: training + generation (h)",
    "step": "training step",
}


def _label(name: str) -> str:
    return NICE.get(name, name)


def _xy(df: pd.DataFrame, metric: str, x: str) -> tuple[np.ndarray, np.ndarray]:
    data = df[[metric] + ([x] if x != "step" else [])].dropna()
    xs = data.index.to_numpy() if x == "step" else data[x].to_numpy()
    return xs, data[metric].to_numpy()


def _save(fig: plt.Figure, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    logger.info("wrote %s", out)
    return out


def plot_runs(runs: Mapping[str, pd.DataFrame], metrics: Sequence[str], out: Path, x: str = "step",
              title: str | None = None, ncols: int | None = None) -> Path | None:  # fmt: skip
    """One panel per metric, one line per run (label → step-indexed metrics), against step or Time.

    Panels fill a grid of ``ncols`` columns (default: one row). Returns the PNG path, or None when no run logged any
    of the metrics (or the Time column for x = Time).
    """
    present = [m for m in metrics if any(is_finite_series(df, m) for df in runs.values())]
    if x != "step" and not any(x in df.columns for df in runs.values()):
        logger.warning("no run logged %s; plot against step instead", x)
        return None
    if not present:
        logger.warning("no run logged any of %s; skipped %s", list(metrics), out)
        return None
    cols = min(ncols or len(present), len(present))
    rows = -(-len(present) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4 * rows), squeeze=False)
    for ax in axes.flat[len(present) :]:
        ax.set_visible(False)  # the grid's unused cells
    for ax, metric in zip(axes.flat, present):
        for label, df in runs.items():
            if is_finite_series(df, metric) and (x == "step" or x in df.columns):
                ax.plot(*_xy(df, metric, x), label=label, linewidth=1.5)
        ax.set(xlabel=_label(x), ylabel=_label(metric), title=metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, out)


def _pick_steps(snaps: Sequence[AllocSnapshot], count: int) -> list[AllocSnapshot]:
    idx = np.unique(np.linspace(0, len(snaps) - 1, num=min(count, len(snaps))).round().astype(int))
    return [snaps[i] for i in idx]


def plot_alloc_vs_acc(snaps: Sequence[AllocSnapshot], out: Path, count: int = 4) -> Path:
    """CurES allocation n_i vs estimated accuracy p̂_i (Eq. 20) at ``count`` evenly spaced steps, with the binned
    mean per step (most rollouts should go to prompts near p̂ = 0.5)."""
    if not snaps:
        raise ValueError("empty allocation dump: nothing to plot")
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    colors = plt.cm.viridis(np.linspace(0, 0.9, min(count, len(snaps))))
    bins = np.linspace(0, 1, 11)
    for color, snap in zip(colors, _pick_steps(snaps, count)):
        ax.scatter(snap.phat, snap.n, s=8, alpha=0.35, color=color)
        which = np.clip(np.digitize(snap.phat, bins) - 1, 0, len(bins) - 2)
        means = [snap.n[which == b].mean() if np.any(which == b) else np.nan for b in range(len(bins) - 1)]
        ax.plot((bins[:-1] + bins[1:]) / 2, means, "-o", color=color, markersize=3, label=f"step {snap.step}")
    ax.set(xlabel="estimated accuracy p̂", ylabel="rollouts allocated n", title="CurES allocation vs estimated accuracy")
    ax.set_xlim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(title="binned mean", fontsize=8)
    return _save(fig, out)


def plot_acc_distribution(snaps: Sequence[AllocSnapshot], out: Path, count: int = 8) -> Path:
    """Distribution of the selected prompts' estimated accuracy p̂ over training (violins at evenly spaced steps)."""
    if not snaps:
        raise ValueError("empty allocation dump: nothing to plot")
    chosen = _pick_steps(snaps, count)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    positions = np.arange(len(chosen))
    ax.violinplot([s.phat for s in chosen], positions=positions, showmedians=True)
    ax.set_xticks(positions, [str(s.step) for s in chosen])
    ax.set(xlabel="training step", ylabel="estimated accuracy p̂", title="Accuracy distribution of selected prompts")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, out)


def plot_phat_quantiles(runs: Mapping[str, pd.DataFrame], out: Path, x: str = "step") -> Path | None:
    """Pool p̂ distribution over training from the logged quantiles ``cures/phat_q05…q95``: median line, 25–75 % and
    5–95 % bands per run. None when no run logged them."""
    keys = [f"cures/phat_q{q}" for q in ("05", "25", "50", "75", "95")]
    usable = {k: df for k, df in runs.items() if all(is_finite_series(df, c) for c in keys)}
    if not usable:
        logger.warning("no run logged %s; skipped %s", keys, out)
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for label, df in usable.items():
        data = df[keys].dropna()
        xs = data.index.to_numpy() if x == "step" else df.loc[data.index, x].to_numpy()
        (line,) = ax.plot(xs, data[keys[2]], label=f"{label} median")
        ax.fill_between(xs, data[keys[1]], data[keys[3]], alpha=0.3, color=line.get_color())
        ax.fill_between(xs, data[keys[0]], data[keys[4]], alpha=0.12, color=line.get_color())
    ax.set(
        xlabel=_label(x),
        ylabel="pool p̂ (posterior mean)",
        title="Accuracy distribution over training (5/25/50/75/95 %)",
    )
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out)


def plot_explained_variance(runs: Mapping[str, pd.DataFrame], out: Path, x: str = "step") -> Path | None:
    """PCL value-model explained variance (Eq. 3) per run over steps; dashed lines give the mean EV of j-rollout
    estimates (``pcl/diag/ev_rollouts_j``, Fig. 7) when the diagnostics were on. None when EV was not logged."""
    usable = {k: df for k, df in runs.items() if is_finite_series(df, "pcl/value/ev")}
    if not usable:
        logger.warning("no run logged pcl/value/ev; skipped %s", out)
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for label, df in usable.items():
        ax.plot(*_xy(df, "pcl/value/ev", x), label=f"{label}: V (training batch)")
        if is_finite_series(df, "pcl/diag/ev"):
            ax.plot(*_xy(df, "pcl/diag/ev", x), "o", markersize=3, label=f"{label}: V (fresh prompts)")
        for j in (1, 2, 3, 4, 8):
            key = f"pcl/diag/ev_rollouts_{j}"
            if is_finite_series(df, key):
                ax.axhline(float(df[key].mean()), linestyle="--", linewidth=0.8, color="grey")
                ax.annotate(f"{j} rollout{'s' * (j > 1)}", (ax.get_xlim()[0], float(df[key].mean())), fontsize=7)
    ax.set(xlabel=_label(x), ylabel=_label("pcl/value/ev"), title="PCL value model: explained variance")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out)
