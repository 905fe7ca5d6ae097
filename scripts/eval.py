#!/usr/bin/env python
"""Evaluate a checkpoint on the PCL or CurES benchmark suite; writes per-benchmark JSONs and summary.json.

The run's provenance (commit, versions, command, arguments, the benchmark files' ``test.meta.json``) goes to
``<out-dir>/provenance.json`` (``provenance-<n>.json`` when the folder already has one) before evaluation starts.

The checkpoint is a Hugging Face model folder. A verl (FSDP) checkpoint is converted first with verl's merger:

    python -m verl.model_merger merge --backend fsdp \\
        --local_dir "$CKPT_DIR/<run>/global_step_<N>/actor" --target_dir "$CKPT_DIR/<run>/global_step_<N>/hf"

(``--backend megatron`` for Megatron checkpoints, adding ``--tie-word-embedding`` for tied-embedding models.)

Examples:

    # PCL DeepScaleR suite on GPU with vLLM (profile defaults to the suite's: pcl_deepscaler)
    python scripts/eval.py --model "$MODEL" --suite pcl --data-dir "$DATA_DIR/qwen3_base" \\
        --out-dir results/pcl/8b_pcl --model-label Qwen3-8B-Base --method-label PCL --time-hours 41.8
    # CurES suite, release decoding; a tiny model on CPU, two benchmarks, 2 problems × at most 2 samples
    python scripts/eval.py --model tiny/ --suite cures --profile cures_release --backend hf \\
        --benchmarks math500 aime24 --limit 2 --max-samples 2 --data-dir "$DATA_DIR/qwen_math" --out-dir results/smoke

``--data-dir`` is the folder ``make data`` wrote for the model's prompt template (``$DATA_DIR/<template>``); each
benchmark is read from ``<data-dir>/<benchmark>/test.parquet`` (``verl_ext.data.layout.prepared_file``, the layout
the training configs read too). Samples per problem are the suite's (the files' ``__rollout_n__`` must agree);
rows dropped at preparation count as wrong against the paper's denominator (``avg_at_k``; ``avg_at_k_kept`` without).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from verl_ext.data.layout import prepared_file
from verl_ext.eval.backends import make_backend
from verl_ext.eval.benchmarks import PROFILES, SUITES, get_profile, get_suite
from verl_ext.eval.runner import EvalConfig, default_scorer, run_suite
from verl_ext.provenance import build_provenance, write_provenance


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="Hugging Face model folder (merge verl checkpoints first)")
    p.add_argument("--suite", required=True, choices=sorted(SUITES))
    p.add_argument("--profile", choices=sorted(PROFILES), help="decoding profile (default: the suite's)")
    p.add_argument(
        "--data-dir",
        required=True,
        type=Path,
        help="one template's prepared folder ($DATA_DIR/<template>) with <benchmark>/test.parquet",
    )
    p.add_argument("--out-dir", required=True, type=Path)
    p.add_argument("--benchmarks", nargs="+", help="subset of the suite's benchmarks (default: all)")
    p.add_argument("--backend", choices=["vllm", "hf"], default="vllm")
    p.add_argument("--max-samples", type=int, help="cap on samples per problem (smoke runs; recorded)")
    p.add_argument("--limit", type=int, help="first N problems per benchmark (smoke runs; recorded)")
    p.add_argument("--max-new-tokens", type=int, help="override the profile's response length")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=8, help="hf backend: prompts per generate call")
    p.add_argument("--tp", type=int, default=1, help="vllm backend: tensor parallel size")
    p.add_argument("--verify-timeout", type=float, help="seconds per math-verify call (default: the reward's)")
    p.add_argument("--model-label", help="model name as in the paper tables, e.g. Qwen3-8B-Base")
    p.add_argument("--method-label", help="method as in the paper tables, e.g. PCL, GRPO, CurES-GRPO, pi_ref, base")
    p.add_argument("--step", type=int, help="training step of the checkpoint")
    p.add_argument("--time-hours", type=float, help="time/train_gen_hours at this checkpoint (PCL's Time column)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    suite = get_suite(args.suite)
    profile = get_profile(args.profile or suite.default_profile)
    if args.max_new_tokens:
        profile = type(profile)(**{**profile.to_dict(), "max_new_tokens": args.max_new_tokens})
    common = {"seed": args.seed, "strip_final_period": profile.strip_final_period}
    extra = {"batch_size": args.batch_size} if args.backend == "hf" else {"tensor_parallel_size": args.tp}
    backend = make_backend(args.backend, args.model, **common, **extra)
    labels = {"model": args.model_label, "method": args.method_label, "step": args.step, "time_hours": args.time_hours,
              "seed": args.seed, "limit": args.limit, "max_samples": args.max_samples}  # fmt: skip
    cfg = EvalConfig(args.model, suite, profile, args.data_dir, args.out_dir, args.benchmarks, args.max_samples,
                     args.limit, labels)  # fmt: skip
    names = args.benchmarks or suite.benchmarks
    data_files = {name: str(prepared_file(args.data_dir, name, "test")) for name in names}
    write_provenance(args.out_dir, build_provenance("eval", config=args, data_files=data_files))
    summary = run_suite(cfg, backend, default_scorer(args.verify_timeout), args.backend)
    brief = {b: round(100 * r["avg_at_k"], 2) for b, r in summary["benchmarks"].items()}
    print(json.dumps({"profile": profile.name, "avg@k %": brief, "avg": summary["avg"]}, indent=1))
    return summary


if __name__ == "__main__":
    main()
