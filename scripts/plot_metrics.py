#!/usr/bin/env python
"""Draw the papers' training figures (PNG) from logged metrics of one or more runs.

Each --run is LABEL=PATH where PATH is the project's JSON-lines metrics log, a wandb CSV export or a tensorboard
run folder / events file. Figures whose metrics no run logged are skipped (and said so).

    python scripts/plot_metrics.py --run GRPO=runs/grpo/metrics.jsonl --run PCL=runs/pcl/metrics.jsonl \\
        --x time --alloc-dump runs/cures/alloc.jsonl --out-dir figures/
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from verl_ext.eval.logs import load_alloc_dump, load_metrics, parse_run_specs
from verl_ext.eval.plots import (
    TIME_KEY,
    plot_acc_distribution,
    plot_alloc_vs_acc,
    plot_explained_variance,
    plot_phat_quantiles,
    plot_runs,
)

ALLOC = ["cures/alloc_min", "cures/alloc_mean", "cures/alloc_max", "cures/alloc_corr_phat"]


def main(argv: list[str] | None = None) -> list[Path]:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", default=[], help="LABEL=PATH (repeat for several runs)")
    p.add_argument("--alloc-dump", type=Path, help="CurES per-step (p̂, n) JSON-lines dump")
    p.add_argument("--x", choices=["step", "time"], default="step", help="x axis: step or time/train_gen_hours")
    p.add_argument("--out-dir", type=Path, required=True)
    args = p.parse_args(argv)
    if not args.run and not args.alloc_dump:
        raise SystemExit("nothing to plot: give --run LABEL=PATH and/or --alloc-dump PATH")
    runs = {k: load_metrics(v) for k, v in parse_run_specs(args.run, "PCL=runs/pcl/metrics.jsonl").items()}
    x, out = ("step" if args.x == "step" else TIME_KEY), args.out_dir
    made = []
    if runs:
        made += [
            plot_runs(
                runs,
                ["curriculum/effective_ratio", "curriculum/train_acc"],
                out / f"training_{args.x}.png",
                x,
                "Effective ratio and train accuracy",
            ),  # fmt: skip
            plot_runs(runs, ALLOC, out / f"cures_alloc_{args.x}.png", x, "CurES allocation statistics"),
            plot_phat_quantiles(runs, out / f"cures_phat_quantiles_{args.x}.png", x),
            plot_explained_variance(runs, out / f"pcl_explained_variance_{args.x}.png", x),
        ]
    if args.alloc_dump:
        snaps = load_alloc_dump(args.alloc_dump)
        made += [plot_alloc_vs_acc(snaps, out / "cures_alloc_vs_acc.png"),
                 plot_acc_distribution(snaps, out / "cures_acc_distribution.png")]  # fmt: skip
    made = [m for m in made if m is not None]
    for path in made:
        print(path)
    return made


if __name__ == "__main__":
    main()
