#!/usr/bin/env python
"""Resumable pilot → train → merge driver of GVM and CurES release (iterations 1..T over NuminaMath subsets).

Examples:

    # CurES-GRPO release, Qwen2.5-Math-1.5B: print every command first, then run (reruns skip finished stages)
    python scripts/run_iterations.py --method cures --base-model "$MODEL_DIR/Qwen2.5-Math-1.5B" \\
        --subset-template "$DATA_DIR/qwen25_math/numina_{i}/train.parquet" --work-dir "$CKPT_DIR/cures_release_1.5b" \\
        --dry-run -- experiment=cures_table1/qwen2.5-math-1.5b_cures-grpo
    # GVM-GRPO, pilot with 8 samples per prompt
    python scripts/run_iterations.py --method gvm --base-model "$MODEL_DIR/Qwen2.5-Math-1.5B" \\
        --subset-template "$DATA_DIR/qwen25_math/numina_{i}/train.parquet" --work-dir "$CKPT_DIR/gvm_1.5b" \\
        --pilot-args "--k 8" -- experiment=cures_table1/qwen2.5-math-1.5b_gvm-grpo

Everything after ``--`` is passed to the training entry as Hydra overrides. The manifest is
``<work-dir>/manifest.json``; each iteration lives in ``<work-dir>/iter_<ii>/`` (table, ckpt/, hf/). A real run
(not ``--dry-run``) first writes ``<work-dir>/provenance.json`` (``provenance-<n>.json`` on a rerun; commit,
versions, command, arguments, each subset file's meta); every pilot report and training run records its own.
"""

from __future__ import annotations

import argparse
import logging
import shlex
from pathlib import Path

from verl_ext.pilot.iterations import METHODS, IterationPlan, run_iterations, subprocess_runner
from verl_ext.provenance import build_provenance, write_provenance

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=sorted(METHODS), required=True)
    parser.add_argument("--base-model", required=True, help="Hugging Face folder iteration 1 starts from")
    parser.add_argument("--subset-template", required=True, help="training parquet of subset {i}")
    parser.add_argument("--work-dir", required=True, type=Path, help="manifest, tables, checkpoints, merged weights")
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10, help="training steps per iteration")
    parser.add_argument("--epochs", type=int, default=2, help="trainer.total_epochs (V1 stops at epoch end)")
    parser.add_argument("--pilot-args", default="", help="extra flags of the pilot / stage-0 command, one string")
    parser.add_argument("--dry-run", action="store_true", help="print every command, run nothing")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the training entry (after --)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    plan = IterationPlan(
        method=args.method,
        base_model=args.base_model,
        subset_template=args.subset_template,
        work_dir=args.work_dir,
        iterations=args.iterations,
        steps=args.steps,
        epochs=args.epochs,
        pilot_args=tuple(shlex.split(args.pilot_args)),
        train_overrides=tuple(args.overrides),
    )
    if not args.dry_run:
        subsets = {f"subset_{i}": args.subset_template.format(i=i) for i in range(1, args.iterations + 1)}
        write_provenance(args.work_dir, build_provenance("iterations", config=args, data_files=subsets))
    run_iterations(plan, subprocess_runner(cwd=REPO), dry_run=args.dry_run)


if __name__ == "__main__":
    main()
