"""Shared helpers for the evaluation tests: benchmark rows in the project's data contract."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import pytest


def contract_rows(name: str, qa: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """Benchmark rows in the data contract (one prompt per row; index = row position)."""
    suffix = " Let's think step by step and output the final answer within \\boxed{}."
    return pd.DataFrame(
        [
            {
                "data_source": name,
                "prompt": [{"role": "user", "content": q + suffix}],
                "ability": "math",
                "reward_model": {"style": "rule", "ground_truth": a},
                "extra_info": {"index": i, "split": "test"},
            }
            for i, (q, a) in enumerate(qa)
        ]
    )


@pytest.fixture
def make_rows() -> Callable[[str, Sequence[tuple[str, str]]], pd.DataFrame]:
    return contract_rows


def write_benchmark(df: pd.DataFrame, data_dir: Path, name: str) -> Path:
    """Write benchmark rows where ``scripts/prepare_data.py`` puts them: ``<data_dir>/<name>/test.parquet``."""
    from verl_ext.data.layout import prepared_file

    path = prepared_file(data_dir, name, "test")
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path)
    return path


@pytest.fixture
def save_benchmark() -> Callable[[pd.DataFrame, Path, str], Path]:
    return write_benchmark
