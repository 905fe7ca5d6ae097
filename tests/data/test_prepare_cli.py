"""scripts/prepare_data.py end to end on local files; the output round-trips through verl's RLHFDataset."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from verl_ext.data.contract import read_dataset
from verl_ext.data.layout import prepared_file, read_meta, sidecar
from verl_ext.data.templates import PASSTHROUGH_CHAT_TEMPLATE

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "prepare_data.py"
SMALL = "--allow-size-mismatch"  # hand-made sources are smaller than the published splits


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
    args = ["--dataset", "math", "--template", "qwen3_base", "--input", str(src), "--out", str(out)]
    assert cli.main([*args, SMALL]) == 0
    path = prepared_file(out, "math", "train")
    df = read_dataset(path)
    assert len(df) == 6
    assert df["reward_model"][4]["ground_truth"] == "4"
    assert list(df["prompt"][0])[0]["role"] == "user"
    meta = read_meta(path)
    assert meta["hf_id"] == "DigitalLearningGmbH/MATH-lighteval" and meta["template"] == "qwen3_base"
    assert meta["rows_in_source"] == 6 and meta["rows_written"] == 6 and meta["rows_dropped"] == 0
    assert meta["size_check"] == "mismatch allowed: 6 rows, published 7500" and meta["input"] == [str(src)]
    assert json.loads(sidecar(path, "dropped").read_text()) == {"dataset": "math", "count": 0, "rows": []}


def test_cli_refuses_a_size_mismatch(cli: ModuleType, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = _math_source(tmp_path)
    with caplog.at_level(logging.ERROR):
        assert cli.main(["--dataset", "math", "--input", str(src), "--out", str(tmp_path / "o")]) == 2
    assert "math: the source table has 6 rows, the published split has 7500" in caplog.text
    assert "--allow-size-mismatch" in caplog.text
    assert not prepared_file(tmp_path / "o", "math", "train").exists()


def test_cli_drops_bad_rows_with_a_report_or_refuses_when_strict(
    cli: ModuleType, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = _math_source(tmp_path, bad_rows=(1, 4))
    out = tmp_path / "out"
    path = prepared_file(out, "math", "train")
    with caplog.at_level(logging.ERROR):
        code = cli.main(["--dataset", "math", "--input", str(src), "--out", str(out), SMALL, "--strict"])
    assert code == 2
    assert "row 1: reward_model.ground_truth is missing" in caplog.text
    assert "row 4: reward_model.ground_truth is missing" in caplog.text
    assert not path.exists()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert cli.main(["--dataset", "math", "--input", str(src), "--out", str(out), SMALL]) == 0
    assert "math: dropped 2 of 6 source rows (row 1: reward_model.ground_truth is missing" in caplog.text
    df = read_dataset(path)
    assert len(df) == 4 and [int(i["source_row"]) for i in df["extra_info"]] == [0, 2, 3, 5]
    dropped = json.loads(sidecar(path, "dropped").read_text())
    assert dropped["count"] == 2 and [d["source_row"] for d in dropped["rows"]] == [1, 4]
    assert read_meta(path)["rows_dropped"] == 2


def test_cli_prompt_length_limit(
    cli: ModuleType, tmp_path: Path, qwen_tokenizer_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = _math_source(tmp_path)
    df = pd.read_parquet(src)
    df.loc[3, "problem"] = "What is " + "one plus " * 40 + "one?"
    df.to_parquet(src)
    out = tmp_path / "o"
    args = ["--dataset", "math", "--template", "qwen3_base", "--input", str(src), "--out", str(out), SMALL]
    # qwen3_base prompts are the plain text (about 25 tokens); under the stock ChatML template (~30 tokens more)
    # every row would exceed 40, so exactly one refusal also shows the pass-through template was used to count
    limit = ["--max-prompt-tokens", "40", "--tokenizer", str(qwen_tokenizer_dir)]
    with caplog.at_level(logging.ERROR):
        code = cli.main([*args, *limit, "--strict"])
    assert code == 2
    assert "1 bad rows" in caplog.text and "row 3: prompt has" in caplog.text
    assert "tokens > max_prompt_tokens=40" in caplog.text
    assert cli.main([*args, *limit]) == 0
    dropped = json.loads(sidecar(prepared_file(out, "math", "train"), "dropped").read_text())["rows"]
    assert [d["source_row"] for d in dropped] == [3] and "tokens > max_prompt_tokens=40" in dropped[0]["reason"]
    with pytest.raises(SystemExit):
        cli.main([*args, "--max-prompt-tokens", "10"])  # needs --tokenizer


def test_cli_eval_benchmark_carries_the_suites_samples(cli: ModuleType, tmp_path: Path) -> None:
    src = tmp_path / "amc.jsonl"
    pd.DataFrame({"id": [0, 1], "question": ["q0", "q1"], "answer": [27.0, 5.0], "url": ["", ""]}).to_json(
        src, orient="records", lines=True
    )
    # qwen_math's default suite is CurES (AMC23 Average@16); --suite pcl gives PCL's Avg@32
    assert cli.main(["--dataset", "amc23", "--input", str(src), "--out", str(tmp_path / "c"), SMALL]) == 0
    df = read_dataset(prepared_file(tmp_path / "c", "amc23", "test"))
    assert df["__rollout_n__"].tolist() == [16, 16]
    assert [rm["ground_truth"] for rm in df["reward_model"]] == ["27", "5"]
    args = ["--dataset", "amc23", "--input", str(src), "--out", str(tmp_path / "p"), SMALL, "--suite", "pcl"]
    assert cli.main(args) == 0
    path = prepared_file(tmp_path / "p", "amc23", "test")
    assert read_dataset(path)["__rollout_n__"].tolist() == [32, 32]
    assert read_meta(path)["suite"] == "pcl" and read_meta(path)["rollout_n"] == 32
    with pytest.raises(SystemExit, match="not a benchmark of suite 'pcl'"):
        cli.main(["--dataset", "gsm8k", "--input", str(src), "--out", str(tmp_path), "--suite", "pcl"])


def test_prepared_file_round_trips_through_verl_rlhf_dataset(
    cli: ModuleType, tmp_path: Path, qwen_tokenizer: Any
) -> None:
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

    src = _math_source(tmp_path, n=5)
    args = ["--dataset", "math", "--template", "qwen_math", "--input", str(src), "--out", str(tmp_path), SMALL]
    assert cli.main(args) == 0
    path = prepared_file(tmp_path, "math", "train")
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


@pytest.mark.parametrize(
    "args",
    [
        ["--dataset", "eval", "--revision", "abc"],
        ["--dataset", "olympiadbench_qwen", "--revision", "abc"],  # a URL source: the commit is in its address
        ["--dataset", "math", "--revision", "abc", "--input", "x.parquet"],
    ],
)
def test_cli_revision_applies_to_one_hub_source(
    cli: ModuleType, tmp_path: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        cli.main([*args, "--out", str(tmp_path)])
    assert "--revision applies to one Hugging Face source" in capsys.readouterr().err
