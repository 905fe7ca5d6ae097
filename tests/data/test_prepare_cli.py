"""scripts/prepare_data.py end to end on local files; the output round-trips through verl's RLHFDataset."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from verl_ext.data.contract import read_dataset
from verl_ext.data.templates import PASSTHROUGH_CHAT_TEMPLATE

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "prepare_data.py"


@pytest.fixture(scope="module")
def cli() -> ModuleType:
    spec = importlib.util.spec_from_file_location("prepare_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _math_source(tmp_path: Path, n: int = 6, bad_rows: tuple[int, ...] = ()) -> Path:
    solutions = [("no answer" if i in bad_rows else f"so \\boxed{{{i}}}") for i in range(n)]
    df = pd.DataFrame(
        {
            "problem": [f"What is {i} times 1?" for i in range(n)],
            "level": ["Level 1"] * n,
            "type": ["Algebra"] * n,
            "solution": solutions,
        }
    )
    path = tmp_path / "math_src.parquet"
    df.to_parquet(path)
    return path


def test_cli_writes_train_parquet(cli: ModuleType, tmp_path: Path) -> None:
    src = _math_source(tmp_path)
    out = tmp_path / "out"
    assert cli.main(["--dataset", "math", "--template", "qwen3_base", "--input", str(src), "--out", str(out)]) == 0
    df = read_dataset(out / "math" / "train.parquet")
    assert len(df) == 6
    assert df["reward_model"][4]["ground_truth"] == "4"
    assert list(df["prompt"][0])[0]["role"] == "user"


def test_cli_refuses_bad_rows_and_names_them(cli: ModuleType, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = _math_source(tmp_path, bad_rows=(1, 4))
    out = tmp_path / "out"
    with caplog.at_level(logging.ERROR):
        code = cli.main(["--dataset", "math", "--input", str(src), "--out", str(out)])
    assert code == 2
    assert "row 1: reward_model.ground_truth is missing" in caplog.text
    assert "row 4: reward_model.ground_truth is missing" in caplog.text
    assert not (out / "math" / "train.parquet").exists()
    ok = cli.main(["--dataset", "math", "--input", str(src), "--out", str(out), "--drop-missing-answers"])
    assert ok == 0 and len(read_dataset(out / "math" / "train.parquet")) == 4


def test_cli_prompt_length_limit(
    cli: ModuleType, tmp_path: Path, qwen_tokenizer_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = _math_source(tmp_path)
    df = pd.read_parquet(src)
    df.loc[3, "problem"] = "What is " + "one plus " * 40 + "one?"
    df.to_parquet(src)
    out = tmp_path / "o"
    args = ["--dataset", "math", "--template", "qwen3_base", "--input", str(src), "--out", str(out)]
    # qwen3_base prompts are the plain text (about 25 tokens); under the stock ChatML template (~30 tokens more)
    # every row would exceed 40, so exactly one refusal also shows the pass-through template was used to count
    with caplog.at_level(logging.ERROR):
        code = cli.main([*args, "--max-prompt-tokens", "40", "--tokenizer", str(qwen_tokenizer_dir)])
    assert code == 2
    assert "1 bad rows" in caplog.text and "row 3: prompt has" in caplog.text
    assert "tokens > max_prompt_tokens=40" in caplog.text
    with pytest.raises(SystemExit):
        cli.main([*args, "--max-prompt-tokens", "10"])  # needs --tokenizer


def test_cli_eval_benchmark_with_rollout_n(cli: ModuleType, tmp_path: Path) -> None:
    src = tmp_path / "amc.jsonl"
    pd.DataFrame({"id": [0, 1], "question": ["q0", "q1"], "answer": [27.0, 5.0], "url": ["", ""]}).to_json(
        src, orient="records", lines=True
    )
    assert cli.main(["--dataset", "amc23", "--input", str(src), "--out", str(tmp_path), "--rollout-n", "16"]) == 0
    df = read_dataset(tmp_path / "amc23" / "test.parquet")
    assert df["__rollout_n__"].tolist() == [16, 16]
    assert [rm["ground_truth"] for rm in df["reward_model"]] == ["27", "5"]


def test_prepared_file_round_trips_through_verl_rlhf_dataset(
    cli: ModuleType, tmp_path: Path, qwen_tokenizer: Any
) -> None:
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

    src = _math_source(tmp_path, n=5)
    assert cli.main(["--dataset", "math", "--template", "qwen_math", "--input", str(src), "--out", str(tmp_path)]) == 0
    path = tmp_path / "math" / "train.parquet"
    config = OmegaConf.create(
        {
            "prompt_key": "prompt",
            "max_prompt_length": 64,
            "filter_overlong_prompts": True,  # verl's own length filter must keep every row we accepted at 64 tokens
            "filter_overlong_prompts_workers": 1,
            "truncation": "error",
            "return_raw_chat": True,
            "cache_dir": str(tmp_path / "cache"),
        }
    )
    from verl_ext.data.contract import prompt_token_count

    counts = [prompt_token_count(p, qwen_tokenizer) for p in read_dataset(path)["prompt"]]
    assert max(counts) <= 64
    dataset = RLHFDataset(str(path), qwen_tokenizer, config)
    assert len(dataset) == 5
    batch = collate_fn([dataset[i] for i in range(len(dataset))])
    np.testing.assert_array_equal(batch["index"].astype(int), np.arange(5))
    assert [rm["ground_truth"] for rm in batch["reward_model"]] == ["0", "1", "2", "3", "4"]
    assert list(batch["data_source"]) == ["math"] * 5
    assert batch["raw_prompt"][2][0]["role"] == "system"
    assert batch["raw_prompt"][2][1]["content"].startswith("What is 2 times 1?")
    assert batch["dummy_tensor"].shape == (5, 1)
    # verl's length filter drops a row once the limit is below our count: the two counts agree
    tight = OmegaConf.merge(config, {"max_prompt_length": min(counts) - 1})
    assert len(RLHFDataset(str(path), qwen_tokenizer, tight)) == 0


def test_passthrough_template_matches_what_verl_renders(qwen_tokenizer: Any) -> None:
    # verl applies actor_rollout_ref.model.custom_chat_template by assigning tokenizer.chat_template
    import copy

    tok = copy.deepcopy(qwen_tokenizer)
    tok.chat_template = PASSTHROUGH_CHAT_TEMPLATE
    ids = tok.apply_chat_template([{"role": "user", "content": "Hi there"}], add_generation_prompt=True, tokenize=True)
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    assert tok.decode(ids) == "Hi there"
