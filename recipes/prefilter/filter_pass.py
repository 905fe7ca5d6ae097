"""Pre-filter's offline filtering pass (PCL App. F.3; docs/methods/prefilter.md): samples from π_0, not a trainer.

    python -m recipes.prefilter.filter_pass --data <train.parquet> --model <dir> --backend vllm --n-pre 16 \
        --p-low 0 --p-high 1 --temperature 1.0 --top-p 1.0 --top-k -1 --max-new-tokens 4096 --seed 1 --out-dir <dir>

Writes ``<stem>.prefilter.parquet``, ``<stem>.pref.parquet`` and ``<stem>.prefilter_report.json``
(``verl_ext.pilot.prefilter_pass``). Training then runs the recipes' entry on the filtered file with the prefilter
config: ``python -m recipes.main --config-name=prefilter data.train_files=<stem>.prefilter.parquet``.
GPU sampling uses vLLM's offline API (``verl_ext.pilot.cli``), not verl's ``main_generation_server``.
"""

from __future__ import annotations

import argparse
import logging

from verl_ext.pilot.cli import add_common_args, provenance, run_sampling
from verl_ext.pilot.prefilter_pass import output_paths, write_prefilter_outputs
from verl_ext.pilot.provenance import Stopwatch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, "--n-pre", n_default=16, seed=1, max_new=4096)
    parser.add_argument("--p-low", type=float, default=0.0, help="keep p_low < p_ref (strict)")
    parser.add_argument("--p-high", type=float, default=1.0, help="keep p_ref < p_high (strict)")
    parser.add_argument("--out-dir", required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    watch = Stopwatch()
    prompts, rollouts, _ = run_sampling(args)
    return write_prefilter_outputs(
        prompts,
        rollouts.n_correct,
        rollouts.n_truncated,
        args.n,
        args.p_low,
        args.p_high,
        output_paths(args.data, args.out_dir),
        provenance(args, watch),
    )


if __name__ == "__main__":
    main()
