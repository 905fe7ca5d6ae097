"""Adapters from Hugging Face datasets (in their published column layouts) to the data contract.

Training sets: MATH-lighteval (gold = last ``\\boxed{}`` of ``solution``), DeepScaleR (gold = ``answer``), the 15
NuminaMath subsets of the CurES release (``problem``/``answer``) and their concatenation ``numina_pool``.
Evaluation sets: MATH500, GSM8K, Gaokao-2023-EN, Minerva Math, OlympiadBench (the 674-problem text-only English
competition subset ``OE_TO_maths_en_COMP``), AIME 2024, AIME 2025, AMC 2023.

Adapters take an already loaded table (``datasets.Dataset``, ``pandas.DataFrame`` or a local parquet/json/jsonl/csv
file); ``load_hf`` is the one function that downloads. A row without an extractable gold answer gets an empty ground
truth, which the contract validator refuses (naming the row) unless the caller asks to drop such rows.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from verl_ext.rewards.boxed import last_boxed_content

logger = logging.getLogger(__name__)

Table = Any  # datasets.Dataset | pandas.DataFrame | str | Path
NUMINA_SUBSETS = tuple(range(1, 16))


def _clean(value: Any) -> str | None:
    """A gold answer as a stripped string; None for missing values. ``27.0`` becomes ``"27"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _gsm8k_answer(row: Mapping[str, Any]) -> str | None:
    """GSM8K's gold is the number after ``####`` in ``answer``, thousands separators removed."""
    answer = str(row["answer"])
    return _clean(answer.split("####")[-1].replace(",", "")) if "####" in answer else None


def _olympiad_answer(row: Mapping[str, Any]) -> str | None:
    """OlympiadBench's ``final_answer`` is a list of ``$...$`` strings; several answers are joined with ", "."""
    answers = row["final_answer"]
    if answers is None or isinstance(answers, str):
        answers = [answers] if answers else []
    parts = [str(a).strip().strip("$").strip() for a in answers if a is not None]
    return _clean(", ".join(p for p in parts if p))


def _olympiad_problem(row: Mapping[str, Any]) -> str:
    context = row.get("context")
    question = str(row["question"])
    return f"{context.strip()}\n{question}" if isinstance(context, str) and context.strip() else question


@dataclass(frozen=True)
class Source:
    """One Hugging Face dataset: where it lives, which columns it has, how to read problem and gold answer."""

    name: str
    hf_id: str
    split: str
    columns: tuple[str, ...]
    problem: Callable[[Mapping[str, Any]], str]
    answer: Callable[[Mapping[str, Any]], str | None]
    kind: str  # "train" or "eval"
    subset: str | None = None
    num_rows: int | None = None  # published size, checked with a warning only


def _column(name: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda row: row[name]


def _answer_column(name: str) -> Callable[[Mapping[str, Any]], str | None]:
    return lambda row: _clean(row[name])


def _numina(i: int) -> Source:
    return Source(
        f"numina_{i}",
        f"ScaleML-RLHF/numina_math_{i}",
        "train",
        ("problem", "answer"),
        _column("problem"),
        _answer_column("answer"),
        "train",
    )


SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source(
            "math",
            "DigitalLearningGmbH/MATH-lighteval",
            "train",
            ("problem", "solution"),
            _column("problem"),
            lambda row: last_boxed_content(str(row["solution"])),
            "train",
            num_rows=7500,
        ),
        Source(
            "deepscaler",
            "agentica-org/DeepScaleR-Preview-Dataset",
            "train",
            ("problem", "answer"),
            _column("problem"),
            _answer_column("answer"),
            "train",
            num_rows=40315,
        ),
        *[_numina(i) for i in NUMINA_SUBSETS],
        Source(
            "math500",
            "HuggingFaceH4/MATH-500",
            "test",
            ("problem", "answer"),
            _column("problem"),
            _answer_column("answer"),
            "eval",
            num_rows=500,
        ),
        Source(
            "gsm8k",
            "openai/gsm8k",
            "test",
            ("question", "answer"),
            _column("question"),
            _gsm8k_answer,
            "eval",
            subset="main",
            num_rows=1319,
        ),
        Source(
            "gaokao2023en",
            "MARIO-Math-Reasoning/Gaokao2023-Math-En",
            "train",
            ("question", "answer"),
            _column("question"),
            _answer_column("answer"),
            "eval",
            num_rows=385,
        ),
        Source(
            "minerva",
            "math-ai/minervamath",
            "test",
            ("question", "answer"),
            _column("question"),
            _answer_column("answer"),
            "eval",
            num_rows=272,
        ),
        Source(
            "olympiadbench",
            "Hothan/OlympiadBench",
            "train",
            ("question", "final_answer"),
            _olympiad_problem,
            _olympiad_answer,
            "eval",
            subset="OE_TO_maths_en_COMP",
            num_rows=674,
        ),
        Source(
            "aime24",
            "HuggingFaceH4/aime_2024",
            "train",
            ("problem", "answer"),
            _column("problem"),
            _answer_column("answer"),
            "eval",
            num_rows=30,
        ),
        Source(
            "aime25",
            "math-ai/aime25",
            "test",
            ("problem", "answer"),
            _column("problem"),
            _answer_column("answer"),
            "eval",
            num_rows=30,
        ),
        Source(
            "amc23",
            "math-ai/amc23",
            "test",
            ("question", "answer"),
            _column("question"),
            _answer_column("answer"),
            "eval",
            num_rows=40,
        ),
    ]
}
EVAL_SOURCES = tuple(name for name, s in SOURCES.items() if s.kind == "eval")


def get_source(name: str) -> Source:
    """The source called ``name``; the error lists the valid names."""
    if name not in SOURCES:
        raise ValueError(f"unknown dataset {name!r}; valid names: {sorted(SOURCES)} (and 'numina_pool')")
    return SOURCES[name]


def load_hf(dataset_id: str, split: str, subset: str | None = None) -> Any:
    """Download one split of a Hugging Face dataset (the only function here that needs the hub)."""
    import datasets

    return datasets.load_dataset(dataset_id, subset, split=split)


def load_table(table: Table) -> pd.DataFrame:
    """A ``pandas.DataFrame`` from a DataFrame, a ``datasets.Dataset`` or a local parquet/json/jsonl/csv file."""
    if isinstance(table, pd.DataFrame):
        return table.reset_index(drop=True)
    if isinstance(table, str | Path):
        path = Path(table)
        readers = {".parquet": pd.read_parquet, ".json": pd.read_json, ".csv": pd.read_csv}
        if path.suffix == ".jsonl":
            return pd.read_json(path, lines=True)
        if path.suffix not in readers:
            raise ValueError(f"{path}: unsupported file type; use one of .parquet .json .jsonl .csv")
        return readers[path.suffix](path)
    if hasattr(table, "to_pandas"):
        return table.to_pandas()
    raise TypeError(f"cannot read a table from {type(table).__name__}; pass a DataFrame, a Dataset or a file path")
