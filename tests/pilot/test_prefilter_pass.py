"""Pre-filter offline pass (docs/methods/prefilter.md): outputs, π_ref mapping, refusals, byte-identical reruns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.pilot.conftest import write_prompts
from verl_ext.curriculum.prefilter import PrefilterConfig, PrefilterCurriculum, load_pref_table
from verl_ext.data.contract import read_dataset
from verl_ext.pilot.prefilter_pass import output_paths, write_prefilter_outputs
from verl_ext.pilot.rollouts import load_prompts

PROV = {"model_hash": "x", "seed": 1}


def _write(tmp_path: Path, counts: list[int], p_low: float = 0.0, p_high: float = 1.0) -> tuple[dict, dict]:
    src = write_prompts(tmp_path / "train.parquet", len(counts), start_index=0)
    prompts = load_prompts(src)
    paths = output_paths(src, tmp_path / "out")
    trunc = np.arange(len(counts)) % 3
    report = write_prefilter_outputs(prompts, np.array(counts), trunc, 16, p_low, p_high, paths, PROV)
    return paths, report


def test_outputs_and_pref_mapping(tmp_path: Path) -> None:
    counts = [0, 5, 16, 1, 15, 8]
    paths, report = _write(tmp_path, counts)
    src = pd.read_parquet(tmp_path / "train.parquet")
    kept = read_dataset(paths["kept"])  # passes the data contract: index = row position
    assert [e["orig_index"] for e in kept["extra_info"]] == [1, 3, 4, 5]
    assert [e["index"] for e in kept["extra_info"]] == [0, 1, 2, 3]
    for new, old in enumerate([1, 3, 4, 5]):  # every other field unchanged
        a, b = kept.iloc[new].to_dict(), src.iloc[old].to_dict()
        assert a["prompt"].tolist() == b["prompt"].tolist() and a["reward_model"] == b["reward_model"]
        assert a["data_source"] == b["data_source"] and a["ability"] == b["ability"]
        assert {k: v for k, v in a["extra_info"].items() if k not in ("index", "orig_index")} == {
            k: v for k, v in b["extra_info"].items() if k != "index"
        }
    pref = pd.read_parquet(paths["pref"])
    assert list(pref.columns) == ["orig_index", "index", "n_correct", "n_truncated", "p_ref"]
    assert pref["index"].tolist() == [-1, 0, -1, 1, 2, 3]
    np.testing.assert_allclose(pref["p_ref"], np.array(counts) / 16)
    # the prefilter curriculum's π_ref reader keys the table by the filtered file's rows
    np.testing.assert_allclose(load_pref_table(str(paths["pref"]), len(kept)), [5 / 16, 1 / 16, 15 / 16, 8 / 16])
    cur = PrefilterCurriculum(PrefilterConfig(batch_size=2, n=4, pref_table=str(paths["pref"])), len(kept))
    assert np.isfinite(cur.pref_acc).all()
    on_disk = json.loads(paths["report"].read_text())
    assert on_disk == json.loads(json.dumps(report))
    assert on_disk["kept"] + on_disk["all_wrong"] + on_disk["all_correct"] == on_disk["total"] == 6
    assert on_disk["histogram"][5] == 1 and sum(on_disk["histogram"]) == 6


def test_band_keeps_strictly_inside(tmp_path: Path) -> None:
    counts = list(range(17))
    paths, report = _write(tmp_path, counts, 0.25, 0.75)
    assert pd.read_parquet(paths["pref"]).query("index >= 0")["n_correct"].tolist() == list(range(5, 12))
    assert report["below_band"] == 4 and report["above_band"] == 4


def test_empty_output_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kept no prompt of 3.*all_wrong=2, all_correct=1.*widen the band"):
        _write(tmp_path, [0, 16, 0])
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.slow
def test_cli_tiny_model_rerun_byte_identical(tmp_path: Path, stopping_model: Path, use_hash_scorer: None) -> None:
    from recipes.prefilter.filter_pass import main

    src = write_prompts(tmp_path / "train.parquet", 6)
    argv = ["--data", str(src), "--model", str(stopping_model), "--backend", "hf", "--n-pre", "4", "--max-new-tokens",
            "3", "--seed", "3"]  # fmt: skip
    first = main([*argv, "--out-dir", str(tmp_path / "a")])
    main([*argv, "--out-dir", str(tmp_path / "b")])
    pa, pb = output_paths(src, tmp_path / "a"), output_paths(src, tmp_path / "b")
    for key in ("kept", "pref"):
        assert pa[key].read_bytes() == pb[key].read_bytes()
    ra, rb = (json.loads(p["report"].read_text()) for p in (pa, pb))
    timing = {"wall_clock_hours", "gpu_hours", "created_utc", "config"}  # config: the two runs' --out-dir differ
    assert {k: v for k, v in ra.items() if k not in timing} == {k: v for k, v in rb.items() if k not in timing}
    assert {**ra["config"], "out_dir": None} == {**rb["config"], "out_dir": None}
    pref = pd.read_parquet(pa["pref"])
    assert (pref["n_correct"] > 0).any() and len(read_dataset(pa["kept"])) == first["kept"] == (
        pref["index"] >= 0
    ).sum()
    assert first["sampling"] == {"do_sample": True, "temperature": 1.0, "top_p": 1.0, "top_k": -1,
                                 "max_new_tokens": 3, "n": 4}  # fmt: skip
    assert first["seed"] == 3 and first["versions"]["verl"] == "0.9.1" and len(first["model_hash"]) == 64
    assert first["gpus"] == 0 and first["gpu_hours"] == 0.0 and first["wall_clock_hours"] > 0
    assert pref["n_truncated"].sum() == first["responses_truncated"] > 0  # 3 tokens: some responses hit the limit
