"""GVM pilot of iteration i (docs/methods/gvm.md): K samples per prompt, p, G, w, n → ``gvm_iter{i}.parquet``.

    python -m recipes.gvm.pilot_gvm --data <subset_i.parquet> --model <dir> --k 8 --iteration i --out-dir <dir>

Sampling with vLLM (``--backend vllm``) or transformers (``hf``), then an HF autograd pass over the correct
responses for G (``verl_ext.pilot``). ``scripts/run_iterations.py --method gvm`` runs it for every iteration.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from verl_ext.pilot.cli import add_common_args, add_grad_args, grad_pass, provenance, run_sampling
from verl_ext.pilot.files import write_json, write_table
from verl_ext.pilot.gvm_pilot import gvm_table
from verl_ext.pilot.provenance import Stopwatch

logger = logging.getLogger("recipes.gvm.pilot_gvm")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, "--k", n_default=8, seed=1, max_new=3072)
    add_grad_args(parser)
    parser.add_argument("--alpha", type=float, default=1e-3)
    parser.add_argument("--beta", type=float, default=2.0)
    parser.add_argument("--iteration", type=int, required=True, help="GVM iteration i (1-based)")
    parser.add_argument("--out-dir", required=True, help="gets gvm_iter{i}.parquet and gvm_iter{i}.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    watch = Stopwatch()
    prompts, rollouts, tokenizer = run_sampling(args)
    correct = rollouts.scores > 0.5
    norms = grad_pass(args, prompts, rollouts, tokenizer, select=correct)  # G needs the correct responses only
    table = gvm_table(prompts.index, correct, norms, args.alpha, args.beta)
    out = write_table(table, Path(args.out_dir) / f"gvm_iter{args.iteration}.parquet")
    write_json(
        out.with_suffix(".json"),
        provenance(args, watch, iteration=args.iteration, table=out.name, budget=int(table["n"].sum())),
    )
    logger.info(
        "GVM pilot %d: %d prompts, mean p %.3f, %d zero allocations → %s",
        args.iteration,
        len(table),
        table["p"].mean(),
        int((table["n"] == 0).sum()),
        out,
    )
    return out


if __name__ == "__main__":
    main()
