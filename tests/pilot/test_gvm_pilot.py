"""GVM pilot table (docs/methods/gvm.md): hand numbers, and the CLI on a tiny CPU model vs recomputation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.pilot.conftest import write_prompts
from tests.pilot.helpers import manual_norms
from verl_ext.curriculum.base import build_curriculum
from verl_ext.curriculum.gvm import allocate_rollouts, gvm_weights
from verl_ext.pilot.gvm_pilot import gvm_table, mean_correct_norm


def test_mean_correct_norm_hand_numbers() -> None:
    norms = np.array([[1.0, 3.0, np.nan, 5.0], [2.0, 2.0, 2.0, 2.0], [np.nan] * 4])
    correct = np.array([[1, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]], dtype=bool)
    np.testing.assert_allclose(mean_correct_norm(norms, correct), [2.0, 2.0, 0.0])
    with pytest.raises(ValueError, match="NaN"):
        mean_correct_norm(norms, np.ones((3, 4), dtype=bool))


def test_gvm_table_columns_and_budget() -> None:
    correct = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=bool)
    norms = np.where(correct, 2.0, np.nan)
    t = gvm_table(np.array([10, 11, 12, 13]), correct, norms)
    assert list(t.columns) == ["index", "p", "G", "w", "n"]
    np.testing.assert_allclose(t["p"], [0.25, 0.5, 0.0, 1.0])
    np.testing.assert_allclose(t["w"], gvm_weights(t["G"].to_numpy(), t["p"].to_numpy()))
    assert t["n"].sum() == 16 and t["n"][2] == 0  # N = K·|D| = 4·4; p = 0 gets nothing


@pytest.mark.slow
def test_cli_matches_recomputation_and_loads(
    tmp_path: Path, stopping_model: Path, use_hash_scorer: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import recipes.gvm.pilot_gvm as entry

    seen: dict = {}
    real = entry.grad_pass

    def spy(args, prompts, rollouts, tokenizer, select, strip_final_period=False):  # noqa: ANN001, ANN202
        seen.update(prompts=prompts, rollouts=rollouts, tokenizer=tokenizer, select=select)
        return real(args, prompts, rollouts, tokenizer, select, strip_final_period)

    monkeypatch.setattr(entry, "grad_pass", spy)
    src = write_prompts(tmp_path / "subset.parquet", 5)
    out = entry.main(["--data", str(src), "--model", str(stopping_model), "--backend", "hf", "--k", "4",
                      "--max-new-tokens", "3", "--iteration", "2", "--out-dir", str(tmp_path)])  # fmt: skip
    assert out.name == "gvm_iter2.parquet" and out.with_suffix(".json").is_file()
    table = pd.read_parquet(out)
    ro = seen["rollouts"]
    correct = ro.scores > 0.5
    assert correct.any() and (seen["select"] == correct).all()
    norms = manual_norms(stopping_model, seen["tokenizer"], seen["prompts"].messages, ro.generations, strip=False)
    g = np.array([norms[i][correct[i]].mean() if correct[i].any() else 0.0 for i in range(len(norms))])
    assert table["index"].tolist() == list(range(5))
    np.testing.assert_allclose(table["p"], correct.mean(axis=1))
    np.testing.assert_allclose(table["G"], g, rtol=1e-4)
    assert table["n"].tolist() == allocate_rollouts(g, correct.mean(axis=1), 4 * 5).tolist()
    cur = build_curriculum("gvm", {"pilot_path": str(out), "batch_size": 2, "n": 4}, 5)
    assert cur.alloc.tolist() == table["n"].tolist() and cur.alloc.sum() == 20
