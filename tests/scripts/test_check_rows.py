"""scripts/check_rows.py and verl_ext.trainer.static_checks: lock pins, lengths and the per-GPU memory estimate."""

from __future__ import annotations

import importlib.util
import math
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from verl_ext.trainer.static_checks import (
    ENGINE_LOCKS,
    GPU_MEMORY_GIB,
    MODELS,
    check_row,
    format_table,
    normalize_name,
    read_lock,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("check_rows", ROOT / "scripts" / "check_rows.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_rows"] = module
    spec.loader.exec_module(module)
    return module


check_rows = _script()


def _real_locks() -> bool:
    return all((ROOT / rel).is_file() for rel in ENGINE_LOCKS.values())


def test_read_lock_parses_hashes_extras_markers_and_normalises_names() -> None:
    assert read_lock(FIXTURES / "gpu-vllm.txt") == {
        "flash-attn": "2.8.3",
        "torch": "2.11.0",
        "trl": "0.27.0",
        "vllm": "0.24.0",
    }
    assert read_lock(FIXTURES / "gpu-sglang.txt") == {
        "flash-attn": "2.8.3",
        "sglang": "0.5.12",
        "torch": "2.11.0",
        "trl": "0.27.0",
    }
    assert normalize_name("Flash_Attn") == normalize_name("flash.attn") == "flash-attn"


# parameter counts the model cards publish (billions)
PUBLISHED_SIZE = {"Qwen/Qwen3-1.7B-Base": 1.7, "Qwen/Qwen3-4B-Base": 4.0, "Qwen/Qwen3-8B-Base": 8.2,
                  "meta-llama/Llama-3.2-3B-Instruct": 3.21, "Qwen/Qwen2.5-Math-1.5B": 1.54,
                  "Qwen/Qwen2.5-Math-7B": 7.62}  # fmt: skip


@pytest.mark.parametrize("hf_id", sorted(MODELS))
def test_model_table_matches_the_model_cards_and_the_model_configs(hf_id: str) -> None:
    spec = MODELS[hf_id]
    assert math.isclose(spec.num_params / 1e9, PUBLISHED_SIZE[hf_id], rel_tol=0.03), spec.num_params
    # the configs' run.max_context (configs/model/*.yaml) is the same number
    groups = [OmegaConf.load(p) for p in (ROOT / "configs" / "model").glob("*.yaml")]
    group = next(g for g in groups if g.run.hf_id == hf_id)
    assert group.run.max_context == spec.max_position_embeddings
    assert spec.source == f"https://huggingface.co/{hf_id}/blob/main/config.json"


@pytest.fixture(scope="module")
def composed() -> dict[str, Any]:
    """Three composed rows (one per engine/paper family), for mutation in the tests below."""
    import copy

    names = ["pcl_table1_math/qwen3-8b-base_pcl", "cures_table1/qwen2.5-math-7b_grpo",
             "pcl_table5_deepscaler/qwen3-4b-base_m4096_n16_sglang"]  # fmt: skip
    helpers = check_rows._compose_helpers()
    helpers.share_hydra_file_cache()
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    out = {}
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base=None):
        for name in names:
            recipe = str(OmegaConf.load(ROOT / "configs" / "experiment" / f"{name}.yaml").run.recipe)
            out[name] = copy.deepcopy(helpers._compose_cached(recipe, (f"experiment={name}",)))
    GlobalHydra.instance().clear()
    for cfg in out.values():
        OmegaConf.set_readonly(cfg, False)
    return out


def _locks() -> dict[str, dict[str, str]]:
    return {engine: read_lock(FIXTURES / Path(rel).name) for engine, rel in ENGINE_LOCKS.items()}


def test_rows_pass_with_complete_locks(composed: dict[str, Any]) -> None:
    reports = [check_row(name, cfg, ROOT, _locks()) for name, cfg in composed.items()]
    assert all(r.ok for r in reports), [r.problems for r in reports]
    pcl, cures, sglang = reports
    assert (pcl.engine, pcl.attention) == ("vllm", "flash_attention_2")
    assert pcl.packages == {"vllm": "0.24.0", "flash-attn": "2.8.3", "trl": "0.27.0"}  # trl: verl's value-model loader
    assert cures.packages == {"vllm": "0.24.0", "flash-attn": "2.8.3"}
    assert sglang.engine == "sglang" and sglang.lock == "requirements/gpu-sglang.txt"
    assert sglang.packages == {"sglang": "0.5.12", "flash-attn": "2.8.3"}
    # what the estimate is made of: PCL has a value model and no reference; CurES has a reference and no value model
    assert pcl.memory.value_model > 0 and pcl.memory.reference == 0
    assert cures.memory.reference > 0 and cures.memory.value_model == 0
    assert pcl.memory.engine == pytest.approx(0.6 * GPU_MEMORY_GIB)
    assert cures.context == 4096 == cures.max_position_embeddings
    table = format_table(reports)
    assert table.count("\n") == 4 and "| pcl_table1_math/qwen3-8b-base_pcl | vllm | flash_attention_2 |" in table


def test_each_check_fails_naming_the_key(composed: dict[str, Any], tmp_path: Path) -> None:
    pcl = composed["pcl_table1_math/qwen3-8b-base_pcl"]
    cures = composed["cures_table1/qwen2.5-math-7b_grpo"]
    locks = _locks()

    too_long = OmegaConf.merge(cures, {"data": {"max_response_length": 8192}})
    (problem,) = check_row("x", too_long, ROOT, locks).problems
    assert "max_response_length = 9216 > max_position_embeddings 4096 of Qwen/Qwen2.5-Math-7B" in problem

    greedy = OmegaConf.merge(pcl, {"actor_rollout_ref": {"rollout": {"gpu_memory_utilization": 0.9}}})
    report = check_row("x", greedy, ROOT, locks)
    assert report.memory.peak > GPU_MEMORY_GIB and "gpu_memory_utilization" in report.problems[0]

    no_flash = {"vllm": {"vllm": "0.24.0", "trl": "0.27.0"}}
    assert check_row("x", cures, ROOT, no_flash).problems == [
        "requirements/gpu-vllm.txt pins no flash-attn (needed by x: engine vllm, attention flash_attention_2)"
    ]
    sdpa = {"actor_rollout_ref": {"model": {"override_config": {"attn_implementation": "sdpa"}}}}
    assert check_row("x", OmegaConf.merge(cures, sdpa), ROOT, no_flash).ok
    # PCL's value model needs flash-attn whatever the policy's attention (verl's load_valuehead_model hard-codes it)
    (problem,) = check_row("x", OmegaConf.merge(pcl, sdpa), ROOT, no_flash).problems
    assert (
        problem
        == "requirements/gpu-vllm.txt pins no flash-attn (needed by x: engine vllm, attention sdpa, PCL value model)"
    )
    liger = OmegaConf.merge(cures, {"actor_rollout_ref": {"model": {"use_liger": True}}})
    assert "pins no liger-kernel" in check_row("x", liger, ROOT, locks).problems[0]

    fa9 = {"actor_rollout_ref": {"model": {"override_config": {"attn_implementation": "fa9"}}}}
    (problem,) = check_row("x", OmegaConf.merge(pcl, fa9), ROOT, locks).problems
    assert "attn_implementation='fa9'; valid: flash_attention_2, sdpa" in problem

    hf = OmegaConf.merge(pcl, {"actor_rollout_ref": {"rollout": {"name": "hf"}}})
    assert "rollout.name='hf'; GPU engines: vllm, sglang" in check_row("x", hf, ROOT, locks).problems[0]

    # no lock on disk and none given: the lock's path is named
    (problem,) = check_row("x", pcl, tmp_path, None).problems
    assert problem == "requirements/gpu-vllm.txt (the lock of engine 'vllm') does not exist"

    small_budget = OmegaConf.merge(pcl, {"actor_rollout_ref": {"actor": {"ppo_max_token_len_per_gpu": 4096}}})
    assert (
        "ppo_max_token_len_per_gpu=4096 < one full sequence (5120 tokens)"
        in check_row("x", small_budget, ROOT, locks).problems[0]
    )


def test_script_reads_the_locks_dir_and_exits_nonzero_on_failure(tmp_path: Path, capsys: Any) -> None:
    shutil.copy(FIXTURES / "gpu-vllm.txt", tmp_path / "gpu-vllm.txt")  # no SGLang lock
    rc = check_rows.main(["--locks-dir", str(tmp_path), "pcl_table1_math/qwen3-1.7b-base_grpo",
                          "pcl_table5_deepscaler/qwen3-4b-base_m4096_n16_sglang"])  # fmt: skip
    out, err = capsys.readouterr()
    assert rc == 1 and "1/2 experiments pass" in out
    assert "FAILED pcl_table5_deepscaler/qwen3-4b-base_m4096_n16_sglang: requirements/gpu-sglang.txt" in err


@pytest.mark.slow
def test_every_composed_experiment_passes(capsys: Any) -> None:
    """All experiment overlays (190 published rows and any variants): engine, attention, lengths, memory.

    Uses the committed locks when both exist, else the fixture locks (which pin what the rows need).
    """
    names = check_rows.experiments()
    assert len(names) >= 190
    rc = check_rows.main([] if _real_locks() else ["--locks-dir", str(FIXTURES)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"{len(names)}/{len(names)} experiments pass" in out
    assert out.count("\n| ") == len(names)  # one line per row after the header, which opens the output
