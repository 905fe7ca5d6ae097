"""Pre-filter rule, report summary and the uniform training curriculum (docs/methods/prefilter.md)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from verl_ext.curriculum import build_curriculum
from verl_ext.curriculum.prefilter import PrefilterConfig, PrefilterCurriculum, prefilter_keep, summarize_prefilter
from verl_ext.curriculum.testing import FakeRolloutContext, roundtrip_state


def test_keep_rule_on_synthetic_counts() -> None:
    c = np.arange(17)
    assert np.flatnonzero(prefilter_keep(c, 16)).tolist() == list(range(1, 16))
    assert np.flatnonzero(prefilter_keep(c, 16, 0.25, 0.75)).tolist() == list(range(5, 12))
    assert prefilter_keep([0, 1, 3, 9, 10], 10, 0.1, 0.9).tolist() == [False, False, True, False, False]
    with pytest.raises(ValueError, match="p_low < p_high"):
        prefilter_keep(c, 16, 0.5, 0.5)
    with pytest.raises(ValueError, match=r"integers in \[0, n_pre=16\]"):
        prefilter_keep([17], 16)
    with pytest.raises(ValueError, match="n_pre must be >= 1"):
        prefilter_keep([0], 0)


def test_summary_buckets_partition_the_prompts() -> None:
    rng = np.random.default_rng(0)
    c = rng.integers(0, 17, size=1000)
    for band in ((0.0, 1.0), (0.25, 0.75)):
        s = summarize_prefilter(c, 16, *band, n_truncated=rng.integers(0, 3, size=1000))
        assert s["kept"] == int(prefilter_keep(c, 16, *band).sum())
        assert s["kept"] + s["all_wrong"] + s["all_correct"] + s["below_band"] + s["above_band"] == s["total"] == 1000
        assert sum(s["histogram"]) == 1000 and len(s["histogram"]) == 17
        assert s["histogram"][0] == s["all_wrong"] == int((c == 0).sum())
        assert json.loads(json.dumps(s)) == s
    s = summarize_prefilter(c, 16, 0.25, 0.75)
    assert s["below_band"] == int(((c >= 1) & (c <= 4)).sum()) and s["above_band"] == int(((c >= 12) & (c <= 15)).sum())
    assert "responses_truncated" not in s


def test_uniform_training_with_optional_pref_acc(tmp_path) -> None:
    pref = np.linspace(0.05, 0.95, 50)
    cur = PrefilterCurriculum(PrefilterConfig(batch_size=8, n=4, seed=0), 50, pref_acc=pref)
    ctx = FakeRolloutContext(np.full(50, 0.5), seed=0)
    seen = []
    for _ in range(12):
        met = cur.run_step(ctx)
        (method, idx, counts), *rest = ctx.record.calls
        assert method == "submit" and not rest and set(counts) == {4} and len(ctx.committed) == 8
        assert met["prefilter/pref_acc"] == pytest.approx(pref[idx].mean())
        seen.append(idx)
        ctx.new_step()
    assert sorted(np.concatenate(seen[:6]).tolist()) == sorted(set(np.concatenate(seen[:6]).tolist()))
    assert cur.data_epoch == 1  # 6 batches of 8 per pass of 50 (remainder 2 skipped)
    path = tmp_path / "train.pref.parquet"
    pq.write_table(pa.table({"index": np.arange(0, 50, 2), "p_ref": np.full(25, 0.25)}), path)
    cur2 = build_curriculum("prefilter", {"batch_size": 8, "n": 4, "pref_table": str(path)}, 50)
    assert cur2.run_step(FakeRolloutContext(np.full(50, 0.5), seed=0))["prefilter/pref_acc"] == 0.25
    plain = build_curriculum("prefilter", {"batch_size": 8, "n": 4}, 50)
    assert "prefilter/pref_acc" not in plain.run_step(FakeRolloutContext(np.full(50, 0.5), seed=0))
    with pytest.raises(ValueError, match="widen the band"):
        PrefilterCurriculum(PrefilterConfig(batch_size=64), 50)


def test_state_roundtrip_gives_identical_next_proposals() -> None:
    for via in ("pickle", "torch"):
        a = PrefilterCurriculum(PrefilterConfig(batch_size=7, n=2, seed=3), 40)
        ctx = FakeRolloutContext(np.full(40, 0.5), seed=0)
        for _ in range(4):
            a.run_step(ctx)
            ctx.new_step()
        b = PrefilterCurriculum(PrefilterConfig(batch_size=7, n=2, seed=4), 40)
        b.load_state_dict(roundtrip_state(a.state_dict(), via))
        ctx_a, ctx_b = FakeRolloutContext(np.full(40, 0.5), seed=0), FakeRolloutContext(np.full(40, 0.5), seed=0)
        for _ in range(15):
            assert a.run_step(ctx_a) == b.run_step(ctx_b)
            ctx_a.new_step()
            ctx_b.new_step()
        prop_a = [idx.tolist() for rec in ctx_a.history for _, idx, _ in rec.calls]
        assert sum(map(len, prop_a)) >= 100
        assert prop_a == [idx.tolist() for rec in ctx_b.history for _, idx, _ in rec.calls]
