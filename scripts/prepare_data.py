"""Prepare training / evaluation parquet files in the project's data contract (verl_ext/data/contract.py).

Examples:
    # MATH-lighteval for Qwen3-Base (PCL), prompts checked against 1024 tokens
    python scripts/prepare_data.py --dataset math --template qwen3_base --out "$DATA_DIR" \
        --max-prompt-tokens 1024 --tokenizer "$MODEL_DIR/Qwen3-4B-Base"
    # the 15 NuminaMath subsets concatenated (CurES release: no final period)
    python scripts/prepare_data.py --dataset numina_pool --template qwen_math --drop-final-period --out "$DATA_DIR"
    # every evaluation benchmark, one parquet each, 16 samples per prompt
    python scripts/prepare_data.py --dataset eval --template qwen_math --rollout-n 16 --out "$DATA_DIR"
    # offline: from a local copy of the source split
    python scripts/prepare_data.py --dataset deepscaler --input deepscaler.parquet --out "$DATA_DIR"

Writes ``<out>/<name>/train.parquet`` (training sets) or ``<out>/<name>/test.parquet`` (benchmarks). Bad rows
(no gold answer, prompt too long, ...) are refused and named; nothing is written for that dataset (exit code 2).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from verl_ext.data.adapters import EVAL_SOURCES, NUMINA_SUBSETS, SOURCES, get_source, load_hf
from verl_ext.data.contract import DataValidationError, write_dataset
from verl_ext.data.prepare import NUMINA_POOL, numina_pool_rows, source_rows
from verl_ext.data.templates import TEMPLATES, get_template

logger = logging.getLogger("prepare_data")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    names = sorted(SOURCES) + [NUMINA_POOL, "eval"]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, choices=names, metavar="NAME", help=f"one of {names}")
    parser.add_argument("--out", required=True, type=Path, help="output folder (e.g. $DATA_DIR)")
    parser.add_argument("--template", default="qwen_math", choices=sorted(TEMPLATES), help="prompt template")
    parser.add_argument("--drop-final-period", action="store_true", help="CurES release prompts (no final period)")
    parser.add_argument(
        "--input", action="append", type=Path, default=None,
        help="local copy of the source split instead of the hub (numina_pool: give it 15 times, subsets 1..15)",
    )  # fmt: skip
    parser.add_argument("--max-prompt-tokens", type=int, default=None, help="refuse longer prompts (needs --tokenizer)")
    parser.add_argument("--tokenizer", type=str, default=None, help="tokenizer folder used to count prompt tokens")
    parser.add_argument("--drop-missing-answers", action="store_true", help="drop rows without a gold answer")
    parser.add_argument("--rollout-n", type=int, default=None, help="per-row __rollout_n__ (evaluation sets)")
    args = parser.parse_args(argv)
    if (args.max_prompt_tokens is None) != (args.tokenizer is None):
        parser.error("--max-prompt-tokens and --tokenizer go together")
    if args.dataset == "eval" and args.input:
        parser.error("--dataset eval downloads every benchmark; prepare one benchmark at a time with --input")
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


def build_rows(name: str, inputs: list[Path] | None, args: argparse.Namespace) -> list[dict]:
    """Rows for one dataset name, from ``inputs`` or the hub."""
    kwargs = {"drop_final_period": args.drop_final_period, "drop_missing": args.drop_missing_answers}
    if name == NUMINA_POOL:
        tables = inputs or [load_hf(get_source(f"numina_{i}").hf_id, "train") for i in NUMINA_SUBSETS]
        return numina_pool_rows(tables, args.template, **kwargs)
    if inputs is not None and len(inputs) != 1:
        raise SystemExit(f"--dataset {name} takes one --input file, got {len(inputs)}")
    source = get_source(name)
    table = inputs[0] if inputs else load_hf(source.hf_id, source.split, source.subset)
    rollout_n = args.rollout_n if source.kind == "eval" else None
    return source_rows(name, table, args.template, rollout_n=rollout_n, **kwargs)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    tokenizer = load_tokenizer(args.tokenizer, args.template)
    names = list(EVAL_SOURCES) if args.dataset == "eval" else [args.dataset]
    failed = []
    for name in names:
        rows = build_rows(name, args.input, args)
        is_train = name == NUMINA_POOL or SOURCES[name].kind == "train"
        path = args.out / name / ("train.parquet" if is_train else "test.parquet")
        try:
            write_dataset(rows, path, tokenizer=tokenizer, max_prompt_tokens=args.max_prompt_tokens)
        except DataValidationError as err:
            logger.error("%s", err)
            failed.append(name)
            continue
        logger.info("%s: %d rows -> %s (template %s)", name, len(rows), path, args.template)
    if failed:
        logger.error("refused: %s (see the rows named above)", failed)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
