"""The synthetic arithmetic task: correct answers, balanced difficulties, determinism, and the data contract."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from verl_ext.data.contract import read_dataset
from verl_ext.data.synthetic import (
    DATA_SOURCE,
    LEVELS,
    evaluate_expr,
    generate_splits,
    sample_problems,
    write_synthetic,
)


@pytest.mark.parametrize(("expr", "value"), [("3+4", 7), ("3+4*5", 23), ("23*45", 1035), ("0*7", 0), ("9", 9)])
def test_evaluate_expr_respects_precedence(expr: str, value: int) -> None:
    assert evaluate_expr(expr) == value


def test_evaluate_expr_rejects_other_characters() -> None:
    with pytest.raises(ValueError, match="only contain digits"):
        evaluate_expr("3-4")


def test_problems_match_their_level_and_answer() -> None:
    problems = sample_problems(800, seed=3)
    counts = Counter(d for _, _, d in problems)
    assert set(counts) == set(range(len(LEVELS))) and set(counts.values()) == {100}  # balanced levels
    for expr, answer, d in problems:
        level = LEVELS[d]
        numbers = expr.replace("*", "+").split("+")
        assert [len(n) for n in numbers] == list(level.digits)
        assert [c for c in expr if c in "+*"] == list(level.ops)
        assert answer == eval(expr)  # noqa: S307 - independent check with Python's own arithmetic


def test_seeded_and_levels_selectable() -> None:
    assert sample_problems(50, seed=1) == sample_problems(50, seed=1)
    assert sample_problems(50, seed=1) != sample_problems(50, seed=2)
    assert {d for _, _, d in sample_problems(30, seed=0, difficulties=[0, 7])} == {0, 7}
    with pytest.raises(ValueError, match="each must be in 0..7"):
        sample_problems(5, seed=0, difficulties=[8])


def test_rows_follow_the_contract_and_splits_are_disjoint() -> None:
    splits = generate_splits({"train": 400, "val": 100}, seed=0)
    train, val = splits["train"], splits["val"]
    assert [r["extra_info"]["index"] for r in train] == list(range(400))
    row = train[0]
    assert row["data_source"] == DATA_SOURCE and row["ability"] == "math"
    assert row["reward_model"] == {"style": "rule", "ground_truth": str(evaluate_expr(row["extra_info"]["expr"]))}
    assert row["prompt"] == [{"role": "user", "content": f"{row['extra_info']['expr']} = ? Answer in \\boxed{{}}."}]
    assert {r["extra_info"]["split"] for r in val} == {"val"}
    # levels with a large expression space have no duplicates within or across splits
    big = [r["extra_info"]["expr"] for r in train + val if r["extra_info"]["difficulty"] >= 3]
    assert len(big) == len(set(big))
    # adding a split later does not change the earlier ones
    assert generate_splits({"train": 400}, seed=0)["train"] == train


def test_write_synthetic_round_trips_through_the_contract(tmp_path: Path) -> None:
    paths = write_synthetic(tmp_path, {"train": 64, "val": 16}, seed=5)
    assert set(paths) == {"train", "val"}
    df = read_dataset(paths["train"])  # validates the contract again on read
    assert len(df) == 64 and list(df["extra_info"].map(lambda x: x["index"])) == list(range(64))
    assert df["extra_info"].map(lambda x: x["difficulty"]).between(0, len(LEVELS) - 1).all()
    assert pd.read_parquet(paths["val"])["extra_info"].map(lambda x: x["split"]).eq("val").all()
