"""PassSampler: seeded per-pass permutation and the pass-end rule (PCL Alg. 1 step 1; docs/pcl.md)."""

from __future__ import annotations

import numpy as np
import pytest

from verl_ext.curriculum.sampler import PassSampler


def test_passes_cover_pool_and_skip_remainder() -> None:
    rng = np.random.default_rng(0)
    s = PassSampler(10, rng)
    a, b = s.next(4), s.next(4)
    assert np.unique(np.concatenate([a, b])).size == 8 and s.remaining == 2
    c = s.next(4)  # 2 left < 4 → skipped, served from pass 2
    assert s.dropped_at_pass_end == 2 and s.data_epoch == 1 and np.unique(c).size == 4
    ref = np.random.default_rng(0)
    p1 = ref.permutation(10)
    p2 = ref.permutation(10)
    assert np.concatenate([a, b]).tolist() == p1[:8].tolist() and c.tolist() == p2[:4].tolist()


def test_exact_fit_and_errors() -> None:
    s = PassSampler(6, np.random.default_rng(1))
    assert sorted(s.next(6).tolist()) == list(range(6)) and s.remaining == 0
    assert s.next(0).size == 0
    with pytest.raises(ValueError, match="candidate multiplier"):
        s.next(7)
    with pytest.raises(ValueError):
        PassSampler(0, np.random.default_rng(0))


def test_state_roundtrip() -> None:
    rng = np.random.default_rng(3)
    s = PassSampler(20, rng)
    s.next(7)
    state, rng_state = s.state_dict(), rng.bit_generator.state
    follow = [s.next(7).tolist() for _ in range(5)]
    rng2 = np.random.default_rng(99)
    s2 = PassSampler(20, rng2)  # construction draws from rng2; the owner restores its RNG afterwards
    rng2.bit_generator.state = rng_state
    s2.load_state_dict(state)
    assert [s2.next(7).tolist() for _ in range(5)] == follow
    with pytest.raises(ValueError, match="train_files"):
        PassSampler(21, np.random.default_rng(0)).load_state_dict(state)
