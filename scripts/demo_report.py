#!/usr/bin/env python
"""Print the CPU demo's tables and write them (Markdown, CSV) with a metrics-vs-step figure (PNG).

Each --run is METHOD@SEED=PATH (or METHOD=PATH for one seed), PATH being the metrics verl's `file` tracking backend
wrote for that run (trainer.logger=[console,file]); a wall_seconds.txt next to it adds the run's wall time.
Writes demo_table.{md,csv} (one line per run), demo_seeds.{md,csv} (mean ± sd over each method's seeds),
demo_val_curve.csv and demo_metrics.png under --out-dir. scripts/demo.sh calls it.

    python scripts/demo_report.py --run grpo@1=outputs/demo/grpo/seed1/metrics.jsonl \\
        --run grpo@2=outputs/demo/grpo/seed2/metrics.jsonl --out-dir outputs/demo
    python scripts/demo_report.py --follow outputs/demo/grpo/seed1/metrics.jsonl --steps 30 --label grpo@1 --pid 123
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from verl_ext.eval.demo_report import load_runs, summarize, write_report
from verl_ext.eval.demo_seeds import follow, split_label, write_seed_report
from verl_ext.eval.logs import parse_run_specs


def main(argv: Sequence[str] | None = None) -> str:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", help="METHOD@SEED=PATH or METHOD=PATH (repeat per run)")
    p.add_argument("--out-dir", type=Path)
    p.add_argument("--follow", type=Path, metavar="PATH", help="print one line per step appended to PATH, then exit")
    p.add_argument("--steps", type=int, default=0, help="with --follow: the run's total steps (for 'step k/N')")
    p.add_argument("--label", default="run", help="with --follow: the prefix of each line, e.g. grpo@1")
    p.add_argument("--pid", type=int, help="with --follow: keep following until this process exits")
    args = p.parse_args(argv)
    if args.follow is not None:
        follow(args.follow, args.steps, args.label, pid=args.pid)
        return ""
    if not args.run or args.out_dir is None:
        p.error("--run METHOD@SEED=PATH (one or more) and --out-dir are required (or --follow PATH)")
    runs = parse_run_specs(args.run, "grpo@1=outputs/demo/grpo/seed1/metrics.jsonl", key_name="METHOD@SEED")
    for label in runs:
        try:
            split_label(label)
        except ValueError as err:
            p.error(str(err))
    loaded = load_runs(runs)
    table, figure = write_report(loaded, args.out_dir)
    rows = {label: summarize(label, df, wall) for label, (df, wall) in loaded.items()}
    seeds = write_seed_report(rows, {label: df for label, (df, _) in loaded.items()}, args.out_dir)
    print("Per run\n\n" + table + "\n\n" + seeds)
    print(f"\ntables: {args.out_dir / 'demo_table.md'}, {args.out_dir / 'demo_seeds.md'} (and .csv); figure: {figure}")
    return table + "\n\n" + seeds


if __name__ == "__main__":
    main()
