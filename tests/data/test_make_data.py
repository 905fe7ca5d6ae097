"""`make data` (scripts/prepare_all.sh) on schema-faithful fixtures of every source runs to the end, reports the
dropped rows, and writes what training (verl's RLHFDataset, the trainer's index check, the configs' paths) and
scripts/eval.py read. About 1-2 minutes on two shared cores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from verl_ext.data.contract import read_dataset
from verl_ext.data.layout import prepared_file, read_meta, sidecar

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "data" / "fixtures"
TEMPLATES = ("qwen3_base", "llama_instruct", "qwen_math")
# (dataset config, template) pairs the experiment overlays use
CONFIG_PAIRS = [("math", "qwen3_base"), ("math", "llama_instruct"), ("deepscaler", "qwen3_base"),
                ("deepscaler", "llama_instruct"), ("numina", "qwen_math")]  # fmt: skip


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    data_dir = tmp_path_factory.mktemp("prepared")
    env = {**os.environ, "DATA_DIR": str(data_dir), "PYTHON": sys.executable, "VERL_EXT_DATA_FIXTURES": str(FIXTURES)}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "prepare_all.sh")], env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return data_dir, proc.stdout + proc.stderr


@pytest.mark.slow
def test_make_data_runs_to_the_end_and_reports_drops(made: tuple[Path, str]) -> None:
    data_dir, log = made
    # DeepScaleR rows without an answer (fixture rows 1 and 3) and Gaokao's empty golds are dropped, not fatal
    deepscaler = prepared_file(data_dir / "qwen3_base", "deepscaler", "train")
    assert [d["source_row"] for d in json.loads(sidecar(deepscaler, "dropped").read_text())["rows"]] == [1, 3]
    gaokao = prepared_file(data_dir / "qwen_math", "gaokao2023en", "test")
    assert json.loads(sidecar(gaokao, "dropped").read_text())["count"] == 2
    assert "deepscaler: dropped 2 of 5 source rows" in log and "gaokao2023en: dropped 2 of 8 source rows" in log
    assert "source rows dropped (see <split>.dropped.json)" in log  # the closing report
    # golds with inner $ were normalised, and the metadata records the pinned revision
    golds = [rm["ground_truth"] for rm in read_dataset(gaokao)["reward_model"]]
    assert "145" in golds and "20" in golds and "48, 384" in golds and not any("$" in g for g in golds)
    meta = read_meta(gaokao)
    assert meta["revision"] == "6c7bdecd205ed623b5e6c92335deb4f13a7cdd9b" and meta["rows_dropped"] == 2
    assert [n["after"] for n in meta["golds_normalised"]][:2] == ["\\{x|-2\\leq x < 1\\}", "48, 384"]
    # OlympiadBench: PCL's HF config for the PCL templates, the pinned Qwen2.5-Math file for CurES
    assert read_meta(prepared_file(data_dir / "qwen3_base", "olympiadbench", "test"))["published_rows"] == 674
    qwen_olymp = read_meta(prepared_file(data_dir / "qwen_math", "olympiadbench", "test"))
    assert qwen_olymp["published_rows"] == 675 and "QwenLM/Qwen2.5-Math/" in qwen_olymp["url"]
    # per-row samples follow each suite's protocol
    samples = {(t, b): read_dataset(prepared_file(data_dir / t, b, "test"))["__rollout_n__"].unique().tolist()
               for t, b in [("qwen3_base", "minerva"), ("qwen3_base", "aime24"), ("qwen_math", "aime24"),
                            ("qwen_math", "minerva")]}  # fmt: skip
    assert samples == {("qwen3_base", "minerva"): [4], ("qwen3_base", "aime24"): [32], ("qwen_math", "aime24"): [16],
                       ("qwen_math", "minerva"): [1]}  # fmt: skip


@pytest.mark.slow
def test_every_path_the_configs_read_exists(made: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from omegaconf import OmegaConf

    data_dir, _ = made
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    common = OmegaConf.load(ROOT / "configs" / "common.yaml")
    for dataset, template in CONFIG_PAIRS:
        cfg = OmegaConf.merge(common, OmegaConf.load(ROOT / "configs" / "dataset" / f"{dataset}.yaml"),
                              {"run": {"template": template}})  # fmt: skip
        paths = [cfg.data.train_files, *cfg.data.val_files]
        missing = [p for p in paths if not Path(p).is_file()]
        assert not missing, f"{dataset}/{template}: the configs read files make data did not write: {missing}"
    for i in range(1, 16):  # CurES release / GVM iterate over the per-subset files
        assert prepared_file(data_dir / "qwen_math", f"numina_{i}", "train").is_file()


@pytest.mark.slow
def test_training_reads_the_prepared_files(made: tuple[Path, str], qwen_tokenizer: Any, tmp_path: Path) -> None:
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

    from verl_ext.trainer.trainer import check_index_alignment

    data_dir, _ = made
    config = OmegaConf.create({"prompt_key": "prompt", "max_prompt_length": 1024, "filter_overlong_prompts": False,
                               "truncation": "error", "return_raw_chat": True, "cache_dir": str(tmp_path)})  # fmt: skip
    for template, name in [("qwen3_base", "deepscaler"), ("llama_instruct", "math"), ("qwen_math", "numina_pool")]:
        dataset = RLHFDataset(str(prepared_file(data_dir / template, name, "train")), qwen_tokenizer, config)
        check_index_alignment(list(dataset.dataframe["extra_info"]))  # the trainer's start-up contract check
        assert len(dataset) == read_meta(prepared_file(data_dir / template, name, "train"))["rows_written"]
    # validation files: verl's _validate reads __rollout_n__ from the collated batch (PCL's Minerva Avg@4)
    minerva = RLHFDataset(str(prepared_file(data_dir / "qwen3_base", "minerva", "test")), qwen_tokenizer, config)
    batch = collate_fn([minerva[i] for i in range(len(minerva))])
    assert [int(n) for n in batch["__rollout_n__"]] == [4, 4]
    assert list(batch["data_source"]) == ["minerva", "minerva"]


@pytest.mark.slow
def test_eval_script_reads_the_prepared_files(
    made: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from verl_ext.testing.tiny import build_tiny_model

    data_dir, _ = made
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    monkeypatch.setenv("VERL_EXT_REWARD_WORKERS", "1")
    sys.modules.pop("eval", None)
    import eval as eval_script

    summary = eval_script.main([
        "--model", str(build_tiny_model(arch="qwen2")), "--suite", "cures", "--backend", "hf",
        "--benchmarks", "gaokao2023en", "olympiadbench", "aime24", "--max-samples", "2", "--max-new-tokens", "4",
        "--data-dir", str(data_dir / "qwen_math"), "--out-dir", str(tmp_path / "out"),
    ])  # fmt: skip
    gaokao = summary["benchmarks"]["gaokao2023en"]
    assert gaokao["n_problems"] == 6 and gaokao["n_dropped"] == 2 and gaokao["n_expected"] == 385
    assert gaokao["avg_at_k"] == pytest.approx(gaokao["avg_at_k_kept"] * 6 / 8)
    assert summary["benchmarks"]["olympiadbench"]["n_problems"] == 3
    assert summary["benchmarks"]["olympiadbench"]["n_expected"] == 675
    assert summary["benchmarks"]["aime24"]["k"] == 2 and summary["benchmarks"]["aime24"]["k_paper"] == 16
