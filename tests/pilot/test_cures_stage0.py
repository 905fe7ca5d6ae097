"""CurES release stage 0 table (docs/cures.md, `cures_release`): release formulas, and the CLI on a tiny CPU model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.pilot.conftest import write_prompts
from tests.pilot.helpers import manual_norms
from verl_ext.curriculum.cures_release import load_release_table, release_sigma_sq, shard_normalise
from verl_ext.pilot.cures_stage0 import release_sigmas, stage0_table


def test_release_sigmas_hand_numbers() -> None:
    correct = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=bool)
    norms = np.array([[2.0, 1, 1, 1], [3, 3, 3, 3], [1, 2, 3, 4]])
    np.testing.assert_allclose(release_sigmas(correct, norms), [np.sqrt(0.57421875), 0.0, 0.0])  # spec example
    with pytest.raises(ValueError, match="finite"):
        release_sigmas(correct, np.full((3, 4), np.nan))


def test_stage0_table_shards() -> None:
    rng = np.random.default_rng(0)
    correct = rng.random((20, 4)) < 0.5
    norms = rng.random((20, 4)) + 0.5
    t = stage0_table(np.arange(20), correct, norms, shards=8, total=8192)
    assert list(t.columns) == ["index", "k", "sigma", "s"]
    assert t["k"].tolist() == correct.sum(axis=1).tolist()
    sig = [np.sqrt(max(release_sigma_sq(int(c.sum()), g[c], g[~c]), 0)) for c, g in zip(correct, norms)]
    np.testing.assert_allclose(t["sigma"], sig)
    assert t["s"].tolist() == shard_normalise(np.array(sig), 8, 8192).tolist()


@pytest.mark.slow
def test_cli_matches_recomputation_and_loads(
    tmp_path: Path, stopping_model: Path, use_hash_scorer: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import recipes.cures.stage0_cures as entry

    seen: dict = {}
    real = entry.grad_pass

    def spy(args, prompts, rollouts, tokenizer, select, strip_final_period=False):  # noqa: ANN001, ANN202
        seen.update(prompts=prompts, rollouts=rollouts, tokenizer=tokenizer, select=select, strip=strip_final_period)
        return real(args, prompts, rollouts, tokenizer, select, strip_final_period)

    monkeypatch.setattr(entry, "grad_pass", spy)
    src = write_prompts(tmp_path / "subset.parquet", 8)
    out = entry.main(["--data", str(src), "--model", str(stopping_model), "--backend", "hf", "--max-new-tokens", "3",
                      "--iteration", "1", "--out-dir", str(tmp_path)])  # fmt: skip
    assert out.name == "stage0_iter1.parquet" and seen["select"] is None and seen["strip"] is True
    table = pd.read_parquet(out)
    ro = seen["rollouts"]
    assert ro.scores.shape == (8, 4)  # 4 rollouts per prompt by default
    correct = ro.scores > 0.5
    norms = manual_norms(stopping_model, seen["tokenizer"], seen["prompts"].messages, ro.generations, strip=True)
    sig = np.array([np.sqrt(max(release_sigma_sq(int(c.sum()), g[c], g[~c]), 0)) for c, g in zip(correct, norms)])
    assert table["k"].tolist() == correct.sum(axis=1).tolist()
    np.testing.assert_allclose(table["sigma"], sig, rtol=1e-4, atol=1e-6)
    assert (sig > 0).any()  # some prompt has 0 < k < 4, so σ is not trivially 0
    assert table["s"].tolist() == shard_normalise(table["sigma"].to_numpy(), 8, 8192).tolist()
    loaded = load_release_table(str(out))  # the cures curriculum's reader
    assert loaded["index"].tolist() == list(range(8)) and loaded["k"].tolist() == table["k"].tolist()
