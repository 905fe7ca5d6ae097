"""The data contract: every kind of bad row is refused and named; writes are atomic; files round-trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from verl_ext.data.contract import DataValidationError, make_row, read_dataset, validate_rows, write_dataset

USER = [{"role": "user", "content": "What is 2+2? Let's think step by step."}]


def _rows(n: int = 4) -> list[dict[str, Any]]:
    return [make_row("toy", USER, str(i), index=i, split="train") for i in range(n)]


def _problems(rows: list[dict[str, Any]] | pd.DataFrame, **kwargs: Any) -> list[tuple[int, str]]:
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    with pytest.raises(DataValidationError) as info:
        validate_rows(df, **kwargs)
    return info.value.problems


def test_make_row_layout() -> None:
    row = make_row("math", USER, 42, index=3, split="test", source_row=9)
    assert row == {
        "data_source": "math",
        "prompt": USER,
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": "42"},
        "extra_info": {"index": 3, "split": "test", "source_row": 9},
    }


def test_good_rows_pass() -> None:
    validate_rows(pd.DataFrame(_rows()))


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda r: r["reward_model"].pop("ground_truth"), "ground_truth is missing or empty"),
        (lambda r: r["reward_model"].update(ground_truth=""), "ground_truth is missing or empty"),
        (lambda r: r["reward_model"].update(ground_truth="  "), "ground_truth is missing or empty"),
        (lambda r: r.update(reward_model=None), "ground_truth is missing or empty"),
        (lambda r: r["extra_info"].pop("index"), "extra_info.index is missing"),
        (lambda r: r["extra_info"].update(index="2"), "extra_info.index is missing or not an integer"),
        (lambda r: r["extra_info"].update(index=True), "not an integer"),
        (lambda r: r["extra_info"].update(index=99), "extra_info.index=99 but the row position is 2"),
        (lambda r: r["extra_info"].pop("split"), "extra_info.split is missing"),
        (lambda r: r.update(prompt="What is 2+2?"), "prompt is not a non-empty list of chat messages"),
        (lambda r: r.update(prompt=[]), "prompt is not a non-empty list"),
        (lambda r: r.update(prompt=["What is 2+2?"]), "prompt[0] is not a {role, content} message"),
        (lambda r: r.update(prompt=[{"role": "user"}]), "prompt[0] is not a {role, content} message"),
        (lambda r: r.update(prompt=[{"role": "robot", "content": "x"}]), "prompt[0].role='robot'"),
        (lambda r: r.update(prompt=[{"role": "user", "content": ""}]), "prompt[0].content is empty"),
        (lambda r: r.update(prompt=[{"role": "system", "content": "be nice"}]), "prompt has no user message"),
        (lambda r: r.update(data_source=""), "data_source must be a non-empty string"),
        (lambda r: r.update(ability=None), "ability must be a non-empty string"),
    ],
)
def test_each_kind_of_bad_row_is_named(mutate: Any, reason: str) -> None:
    rows = _rows()
    mutate(rows[2])
    problems = _problems(rows)
    assert [row for row, _ in problems] == [2]
    assert reason in problems[0][1]


def test_duplicate_index_names_both_rows() -> None:
    rows = _rows(5)
    rows[3]["extra_info"]["index"] = 1
    problems = _problems(rows)
    assert (3, "duplicate extra_info.index=1 (first used by row 1)") in problems
    assert any(row == 3 and "row position is 3" in reason for row, reason in problems)


def test_missing_column_is_named() -> None:
    df = pd.DataFrame(_rows()).drop(columns=["reward_model"])
    problems = _problems(df)
    assert "missing columns ['reward_model']" in problems[0][1]


def test_all_bad_rows_are_reported_and_message_is_capped() -> None:
    rows = _rows(50)
    for row in rows[10:40]:
        row["reward_model"]["ground_truth"] = ""
    with pytest.raises(DataValidationError) as info:
        validate_rows(pd.DataFrame(rows))
    err = info.value
    assert [row for row, _ in err.problems] == list(range(10, 40))
    message = str(err)
    assert "30 bad rows" in message
    assert "row 10:" in message and "row 29:" in message  # the first 20 are listed
    assert "row 30:" not in message and "... and 10 more problems" in message


def test_prompt_length_needs_tokenizer() -> None:
    with pytest.raises(ValueError, match="needs a tokenizer"):
        validate_rows(pd.DataFrame(_rows()), max_prompt_tokens=10)


def test_overlong_prompt_is_refused(qwen_tokenizer: Any) -> None:
    rows = _rows(3)
    rows[1]["prompt"] = [{"role": "user", "content": "seven " * 300}]
    problems = _problems(rows, tokenizer=qwen_tokenizer, max_prompt_tokens=100)
    assert [row for row, _ in problems] == [1]
    assert "tokens > max_prompt_tokens=100" in problems[0][1]
    validate_rows(pd.DataFrame(rows), tokenizer=qwen_tokenizer, max_prompt_tokens=400)


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    rows = _rows(3)
    path = write_dataset(rows, tmp_path / "sub" / "train.parquet")
    df = read_dataset(path)
    assert len(df) == 3
    assert [info["index"] for info in df["extra_info"]] == [0, 1, 2]
    assert df["reward_model"][2] == {"style": "rule", "ground_truth": "2"}
    assert list(df["prompt"][0]) == USER


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    path = write_dataset(_rows(2), tmp_path / "train.parquet")
    before = path.read_bytes()
    bad = _rows(4)
    bad[3]["reward_model"]["ground_truth"] = ""
    with pytest.raises(DataValidationError, match="train.parquet: 1 bad rows"):
        write_dataset(bad, path)
    assert path.read_bytes() == before
    with pytest.raises(DataValidationError):
        write_dataset(bad, tmp_path / "new.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.parquet"]  # no partial or temporary files


def test_crash_during_write_cleans_the_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(self: pd.DataFrame, path: str, **kwargs: Any) -> None:
        Path(path).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", explode)
    with pytest.raises(OSError, match="disk full"):
        write_dataset(_rows(2), tmp_path / "train.parquet")
    assert list(tmp_path.iterdir()) == []


def test_read_dataset_validates(tmp_path: Path) -> None:
    rows = _rows(3)
    rows[0]["extra_info"]["index"] = 5
    path = tmp_path / "bad.parquet"
    pd.DataFrame(rows).to_parquet(path)  # written around the contract on purpose
    with pytest.raises(DataValidationError, match="bad.parquet: 1 bad rows"):
        read_dataset(path)


def test_empty_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="no rows"):
        write_dataset([], tmp_path / "x.parquet")
