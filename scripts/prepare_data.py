"""Prepare training / evaluation parquet files in the project's data contract (verl_ext/data/contract.py).

Examples:
    # MATH-lighteval for Qwen3-Base (PCL), prompts checked against 1024 tokens
    python scripts/prepare_data.py --dataset math --template qwen3_base --out "$DATA_DIR/qwen3_base" \
        --max-prompt-tokens 1024 --tokenizer "$MODEL_DIR/Qwen3-4B-Base"
    # the 15 NuminaMath subsets concatenated (CurES release: no final period)
    python scripts/prepare_data.py --dataset numina_pool --template qwen_math --drop-final-period \
        --out "$DATA_DIR/qwen_math"
    # every benchmark of a suite, one parquet each, with the suite's samples per problem (__rollout_n__)
    python scripts/prepare_data.py --dataset eval --suite cures --template qwen_math --out "$DATA_DIR/qwen_math"
    # offline: from a local copy of the source split, or from a fixture folder for every source
    python scripts/prepare_data.py --dataset deepscaler --input deepscaler.parquet --out "$DATA_DIR/qwen3_base"
    VERL_EXT_DATA_FIXTURES=tests/data/fixtures python scripts/prepare_data.py --dataset eval --out /tmp/d \
        --allow-size-mismatch

Writes ``<out>/<name>/train.parquet`` (training sets) or ``<out>/<name>/test.parquet`` (benchmarks), each with
``<split>.meta.json`` (provenance: source, pinned revision, row counts) and ``<split>.dropped.json`` next to it.
Bad rows (no gold answer, empty problem, prompt too long) are dropped and reported; ``--strict`` refuses the dataset
instead (exit code 2). A source whose size is not the published one is refused (exit code 2) unless
``--allow-size-mismatch``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from verl_ext.data.adapters import FIXTURES_ENV, NUMINA_SUBSETS, SOURCES, fixture_dir, get_source, load_source
from verl_ext.data.contract import DataValidationError
from verl_ext.data.layout import prepared_file
from verl_ext.data.prepare import (
    NUMINA_POOL,
    Prepared,
    SizeMismatchError,
    prepare_numina_pool,
    prepare_source,
    write_prepared,
)
from verl_ext.data.templates import TEMPLATES, get_template
from verl_ext.eval.benchmarks import SUITES, suite_sources

logger = logging.getLogger("prepare_data")

# The suite whose protocol (benchmarks, samples per problem) a template's evaluation files follow by default:
# PCL's models (Qwen3-Base, Llama-3.2-Instruct) and CurES's (Qwen2.5-Math).
TEMPLATE_SUITES = {"qwen3_base": "pcl", "llama_instruct": "pcl", "qwen_math": "cures"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    names = sorted(SOURCES) + [NUMINA_POOL, "eval"]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, choices=names, metavar="NAME", help=f"one of {names}")
    parser.add_argument("--out", required=True, type=Path, help="output folder of one template: $DATA_DIR/<template>")
    parser.add_argument("--template", default="qwen_math", choices=sorted(TEMPLATES), help="prompt template")
    parser.add_argument(
        "--suite", choices=sorted(SUITES), default=None,
        help="evaluation suite of benchmark files: which benchmarks (--dataset eval), their source and samples per "
        f"problem (__rollout_n__); default by template {TEMPLATE_SUITES}",
    )  # fmt: skip
    parser.add_argument("--drop-final-period", action="store_true", help="CurES release prompts (no final period)")
    parser.add_argument(
        "--input", action="append", type=Path, default=None,
        help="local copy of the source split instead of the hub (numina_pool: give it 15 times, subsets 1..15)",
    )  # fmt: skip
    parser.add_argument("--max-prompt-tokens", type=int, default=None, help="drop longer prompts (needs --tokenizer)")
    parser.add_argument("--tokenizer", type=str, default=None, help="tokenizer folder used to count prompt tokens")
    parser.add_argument(
        "--revision", default=None,
        help="Hugging Face commit to load instead of the registered one (one Hugging Face source per call)",
    )  # fmt: skip
    parser.add_argument("--strict", action="store_true", help="refuse a dataset with bad rows instead of dropping them")
    parser.add_argument(
        "--allow-size-mismatch", action="store_true",
        help="prepare a source whose row count differs from the published one (recorded in the metadata)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if (args.max_prompt_tokens is None) != (args.tokenizer is None):
        parser.error("--max-prompt-tokens and --tokenizer go together")
    if args.dataset == "eval" and args.input:
        parser.error("--dataset eval prepares every benchmark of the suite; use --input with one benchmark at a time")
    args.suite = args.suite or TEMPLATE_SUITES[args.template]
    if args.revision is not None:
        single = args.dataset not in ("eval", NUMINA_POOL) and not args.input
        if not single or SOURCES[args.dataset].hf_id is None:
            parser.error("--revision applies to one Hugging Face source loaded from the hub (not eval, numina_pool, "
                         "--input or a URL source)")  # fmt: skip
    return args


def load_tokenizer(path: str | None, template: str) -> object | None:
    """The tokenizer used for prompt lengths, with the template's chat template when it has its own."""
    if path is None:
        return None
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    chat_template = get_template(template).chat_template
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer


def jobs(args: argparse.Namespace) -> list[tuple[str, int | None]]:
    """``(source name, samples per problem)`` to prepare: one dataset, or every benchmark of the suite."""
    if args.dataset == "eval":
        return [(source, k) for _, source, k in suite_sources(args.suite)]
    if args.dataset == NUMINA_POOL or get_source(args.dataset).kind == "train":
        return [(args.dataset, None)]
    samples = {source: k for _, source, k in suite_sources(args.suite)}
    if args.dataset not in samples:
        raise SystemExit(
            f"--dataset {args.dataset} is not a benchmark of suite {args.suite!r} "
            f"(its sources: {sorted(samples)}); pick the suite with --suite"
        )
    return [(args.dataset, samples[args.dataset])]


def build(name: str, rollout_n: int | None, args: argparse.Namespace, tokenizer: Any) -> Prepared:
    """Rows for one dataset name, from ``--input``, the fixture folder or the hub, bad rows dropped or refused."""
    common = {"drop_final_period": args.drop_final_period, "strict": args.strict, "tokenizer": tokenizer,
              "max_prompt_tokens": args.max_prompt_tokens}  # fmt: skip
    inputs = args.input
    if name == NUMINA_POOL:
        if inputs is not None and len(inputs) != len(NUMINA_SUBSETS):
            raise SystemExit(f"--dataset {NUMINA_POOL} takes 15 --input files (subsets 1..15), got {len(inputs)}")
        tables = inputs or [load_source(get_source(f"numina_{i}")) for i in NUMINA_SUBSETS]
        return prepare_numina_pool(tables, args.template, **common)
    if inputs is not None and len(inputs) != 1:
        raise SystemExit(f"--dataset {name} takes one --input file, got {len(inputs)}")
    table = inputs[0] if inputs else load_source(get_source(name), args.revision)
    prepared = prepare_source(name, table, args.template, rollout_n=rollout_n,
                              allow_size_mismatch=args.allow_size_mismatch, **common)  # fmt: skip
    if args.revision is not None:
        prepared.meta["revision"] = args.revision
    return prepared


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    tokenizer = load_tokenizer(args.tokenizer, args.template)
    fixtures = fixture_dir()
    failed = []
    for name, rollout_n in jobs(args):
        try:
            prepared = build(name, rollout_n, args, tokenizer)
        except (DataValidationError, SizeMismatchError) as err:
            logger.error("%s", err)
            failed.append(name)
            continue
        split = "train" if name == NUMINA_POOL or SOURCES[name].kind == "train" else "test"
        settings = {
            "template": args.template,
            "drop_final_period": args.drop_final_period,
            "suite": args.suite if split == "test" else None,
            "rollout_n": rollout_n,
            "max_prompt_tokens": args.max_prompt_tokens,
            "input": [str(p) for p in args.input] if args.input else None,
            "fixtures": str(fixtures) if fixtures and not args.input else None,
        }
        path = write_prepared(prepared, prepared_file(args.out, prepared.name, split), settings)
        logger.info(
            "%s: %d rows -> %s (template %s; %d dropped, %d golds normalised; samples per problem %s)",
            name, len(prepared.rows), path, args.template, len(prepared.dropped), len(prepared.normalised), rollout_n,
        )  # fmt: skip
    if failed:
        logger.error("refused: %s (see the reasons above)", failed)
        return 2
    if fixtures is not None and not args.input:
        logger.warning("%s is set: these files come from local fixtures, not the published datasets", FIXTURES_ENV)
    return 0


if __name__ == "__main__":
    sys.exit(main())
