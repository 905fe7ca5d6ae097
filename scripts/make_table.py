#!/usr/bin/env python
"""Render our evaluation summaries as PCL Table 1 / Table 13 or CurES Table 1, next to the published numbers.

Reads every summary.json under --results-dir (written by scripts/eval.py with --model-label / --method-label set to
the paper's names, e.g. Qwen3-8B-Base + PCL, Qwen2.5-Math-7B + CurES-GRPO) and writes <layout>.md and <layout>.csv.

    python scripts/make_table.py --results-dir results/ --layout pcl_table13 --out-dir results/tables
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from verl_ext.eval.tables import LAYOUTS, build_rows, load_paper, load_summaries, render_markdown, write_csv

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> dict[str, str]:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results-dir", required=True, type=Path)
    p.add_argument("--layout", nargs="+", choices=sorted(LAYOUTS), default=sorted(LAYOUTS))
    p.add_argument("--paper-dir", type=Path, default=REPO / "data" / "paper_tables")
    p.add_argument("--out-dir", type=Path, help="where to write <layout>.md/.csv (default: --results-dir)")
    args = p.parse_args(argv)
    out_dir = args.out_dir or args.results_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    summaries = load_summaries(args.results_dir)
    rendered = {}
    for name in args.layout:
        layout = LAYOUTS[name]
        rows = build_rows(summaries, load_paper(args.paper_dir, layout), layout)
        markdown = render_markdown(rows, layout)
        (out_dir / f"{name}.md").write_text(markdown)
        write_csv(rows, layout, out_dir / f"{name}.csv")
        print(markdown)
        rendered[name] = markdown
    return rendered


if __name__ == "__main__":
    main()
