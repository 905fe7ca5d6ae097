#!/usr/bin/env python
"""Print the CPU demo's comparison table and write it (Markdown, CSV) with a metrics-vs-step figure (PNG).

Each --run is METHOD=PATH, PATH being the metrics verl's `file` tracking backend wrote for that method
(trainer.logger=[console,file]); a wall_seconds.txt next to it adds the run's wall time. scripts/demo.sh calls it.

    python scripts/demo_report.py --run grpo=outputs/demo/grpo/metrics.jsonl \\
        --run cures=outputs/demo/cures/metrics.jsonl --out-dir outputs/demo
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from verl_ext.eval.demo_report import load_runs, write_report
from verl_ext.eval.logs import parse_run_specs


def main(argv: Sequence[str] | None = None) -> str:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", required=True, help="METHOD=PATH (repeat per method)")
    p.add_argument("--out-dir", type=Path, required=True)
    args = p.parse_args(argv)
    runs = parse_run_specs(args.run, "cures=outputs/demo/cures/metrics.jsonl", key_name="METHOD")
    table, figure = write_report(load_runs(runs), args.out_dir)
    print(table)
    print(f"\ntable: {args.out_dir / 'demo_table.md'} (and .csv); figure: {figure}")
    return table


if __name__ == "__main__":
    main()
