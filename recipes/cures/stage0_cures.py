"""CurES release stage 0 of iteration i (docs/cures.md): 4 rollouts, k, σ, s → ``stage0_iter{i}.parquet``.

    python -m recipes.cures.stage0_cures --data <subset_i.parquet> --model <dir> --iteration i --out-dir <dir>

Defaults are the released ones: 4 rollouts, T = 1, top-p 1, 3,072 tokens, seed 42, prompt without its final period
(``--keep-final-period`` turns that off), bf16 gradients on GPU, 8 shards × 8192 copies.
``scripts/run_iterations.py --method cures`` runs it for every iteration.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from verl_ext.pilot.cli import add_common_args, add_grad_args, grad_pass, provenance, run_sampling
from verl_ext.pilot.cures_stage0 import stage0_table
from verl_ext.pilot.files import write_json, write_table
from verl_ext.pilot.provenance import Stopwatch

logger = logging.getLogger("recipes.cures.stage0_cures")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, "--rollouts", n_default=4, seed=42, max_new=3072)
    add_grad_args(parser)
    parser.add_argument("--keep-final-period", action="store_true", help="render the training prompt unchanged")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--total", type=int, default=8192, help="copies per shard")
    parser.add_argument("--iteration", type=int, required=True, help="release iteration i (1-based)")
    parser.add_argument("--out-dir", required=True, help="gets stage0_iter{i}.parquet and stage0_iter{i}.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    strip = not args.keep_final_period
    watch = Stopwatch()
    prompts, rollouts, tokenizer = run_sampling(args, strip_final_period=strip)
    correct = rollouts.scores > 0.5
    norms = grad_pass(
        args, prompts, rollouts, tokenizer, select=None, strip_final_period=strip
    )  # σ needs every rollout
    table = stage0_table(prompts.index, correct, norms, args.shards, args.total)
    out = write_table(table, Path(args.out_dir) / f"stage0_iter{args.iteration}.parquet")
    write_json(
        out.with_suffix(".json"),
        provenance(
            args,
            watch,
            iteration=args.iteration,
            table=out.name,
            strip_final_period=strip,
            copies=int(table["s"].sum()),
        ),
    )
    logger.info(
        "CurES stage 0 %d: %d prompts, mean k %.3f, Σs %d → %s",
        args.iteration,
        len(table),
        table["k"].mean(),
        int(table["s"].sum()),
        out,
    )
    return out


if __name__ == "__main__":
    main()
