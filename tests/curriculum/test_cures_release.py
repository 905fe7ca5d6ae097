"""``cures_release``: the released pipeline's formulas and curriculum (docs/cures.md)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from verl_ext.curriculum.base import build_curriculum
from verl_ext.curriculum.cures_release import (
    align_to_gpus,
    load_release_table,
    release_sigma_sq,
    release_weights,
    shard_normalise,
)
from verl_ext.curriculum.testing import FakeRolloutContext, run_steps


def test_release_sigma_example_and_zero_ends() -> None:
    assert release_sigma_sq(1, [2.0], [1.0, 1.0, 1.0]) == 0.57421875
    assert release_sigma_sq(0, [], [1.0, 2.0, 3.0, 4.0]) == 0.0
    assert release_sigma_sq(4, [1.0, 2.0, 3.0, 4.0], []) == 0.0
    with pytest.raises(ValueError, match="k=5"):
        release_sigma_sq(5, [1.0], [])


def test_release_weights_nearly_uniform_max_at_zero() -> None:
    w = release_weights(np.arange(5))
    assert w.max() / w.min() <= 1.003
    assert int(np.argmax(w)) == 0
    assert w[0] == pytest.approx(np.exp(np.sqrt(1 / 6 * 5 / 6) / 100))


def test_shard_normalise_contiguous_shards() -> None:
    sig = np.array([1.0, 3.0, 2.0, 2.0, 0.0, 0.0, 1.0, 1.0, 2.0])  # P=9, 4 shards of 2 (+1 in the last)
    s = shard_normalise(sig, shards=4, total=8)
    assert s.tolist() == [2, 6, 4, 4, 0, 0, 2, 2, 4]
    # half-to-even rounding: 8·1/16 = 0.5 → 0, 8·3/16 = 1.5 → 2
    assert shard_normalise(np.array([1.0, 3.0, 12.0]), shards=1, total=8).tolist() == [0, 2, 6]
    # the budget depends on the shard count (released behaviour)
    sig2 = np.random.default_rng(0).random(80)
    assert abs(shard_normalise(sig2, 8, 8192).sum() - 8 * 8192) <= 80
    assert abs(shard_normalise(sig2, 4, 8192).sum() - 4 * 8192) <= 80


def test_align_to_gpus_round_robin_from_largest() -> None:
    out = align_to_gpus(np.array([1, 5, 3, 5]), 8)  # Σ=14 → +2: the two 5s (lower position first)
    assert out.tolist() == [1, 6, 3, 6]
    out = align_to_gpus(np.array([2, 1]), 8)  # Σ=3 → +5 round robin: 2,1,2,1,2
    assert out.tolist() == [5, 3]
    assert align_to_gpus(np.array([4, 4]), 8).tolist() == [4, 4]


def _table(tmp_path: Path, fmt: str, size: int = 64) -> Path:
    rng = np.random.default_rng(0)
    k = rng.integers(0, 5, size)
    sigma = np.where((k == 0) | (k == 4), 0.0, rng.random(size))
    index = rng.permutation(size)  # unsorted on purpose: the loader sorts by index
    if fmt == "npz":
        path = tmp_path / "stage0.npz"
        np.savez(path, index=index, k=k, sigma=sigma)
    else:
        import pandas as pd

        path = tmp_path / "stage0.parquet"
        pd.DataFrame({"index": index, "k": k, "sigma": sigma}).to_parquet(path)
    return path


@pytest.mark.parametrize("fmt", ["npz", "parquet"])
def test_release_curriculum_step(tmp_path: Path, fmt: str) -> None:
    path = _table(tmp_path, fmt)
    table = load_release_table(str(path))
    assert table["index"].tolist() == list(range(64))
    params = {"release_table": str(path), "batch_size": 16, "n": 4, "release_total": 64}
    cur = build_curriculum("cures_release", {**params, "release_shards": 4, "num_gpus": 8}, 64)
    ctx = FakeRolloutContext(np.full(64, 0.5), seed=0)
    metrics = cur.run_step(ctx)
    ((_, idx, n),) = ctx.record.calls
    copies = shard_normalise(table["sigma"], 4, 64)
    assert np.all(copies[idx] > 0)  # s = 0 prompts are dropped
    assert np.all(n % 4 == 0) and (n // 4).sum() % 8 == 0
    assert metrics["cures/alloc_dropped"] == 16 - idx.size
    assert np.all(n // 4 >= copies[idx])


def test_release_state_resume(tmp_path: Path) -> None:
    path = _table(tmp_path, "npz")
    params = {"release_table": str(path), "batch_size": 16, "n": 4, "release_total": 64}
    a = build_curriculum("cures_release", params, 64)
    run_steps(a, FakeRolloutContext(np.full(64, 0.5), seed=0), 3)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = build_curriculum("cures_release", params, 64)
    b.load_state_dict(torch.load(buf, weights_only=False))
    out_a = run_steps(a, FakeRolloutContext(np.full(64, 0.5), seed=1), 100)
    out_b = run_steps(b, FakeRolloutContext(np.full(64, 0.5), seed=1), 100)
    for (ia, na), (ib, nb) in zip(out_a, out_b, strict=True):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(na, nb)
    online = build_curriculum("cures_online", {"batch_size": 16, "n": 4}, 64)
    with pytest.raises(KeyError):  # another strategy's state is not loadable
        online.load_state_dict(a.state_dict())
    # a state of the old ``cures`` name with mode=release names the strategy that replaced it
    with pytest.raises(ValueError, match="'cures_release'"):
        b.load_state_dict({"mode": "release", **a.state_dict()})
    with pytest.raises(ValueError, match="release_table"):
        build_curriculum("cures_release", {"batch_size": 16, "n": 4}, 64)


def test_release_table_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="stage-0"):
        load_release_table(str(tmp_path / "missing.npz"))
    bad = tmp_path / "bad.npz"
    np.savez(bad, index=np.arange(3), k=np.zeros(3))
    with pytest.raises(ValueError, match="sigma"):
        load_release_table(str(bad))
    path = _table(tmp_path, "npz")
    with pytest.raises(ValueError, match="regenerate"):
        build_curriculum("cures_release", {"release_table": str(path), "batch_size": 4, "n": 4}, 32)
