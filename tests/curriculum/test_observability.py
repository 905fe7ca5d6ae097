"""The shared observability figures on hand-computed cases (verl_ext/curriculum/observability.py)."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest

from verl_ext.curriculum.base import Group
from verl_ext.curriculum.observability import (
    PromptTracker,
    calibration,
    effective_ratio,
    spearman,
    wasted_fraction,
    zero_advantage,
)


def _g(index: int, rewards: list[float], handle: str = "") -> Group:
    return Group(handle=handle or f"h{index}", index=index, rewards=np.asarray(rewards, dtype=np.float64))


def test_zero_advantage_effective_ratio_and_wasted_tokens():
    groups = [_g(0, [1, 0, 0, 1]), _g(1, [1, 1]), _g(2, [0, 0, 0, 0, 0, 0]), _g(3, [0.5, 0.5])]
    assert zero_advantage(groups).tolist() == [False, True, True, True]  # equal rewards, binary or not
    assert effective_ratio(groups) == pytest.approx(1 / 4)
    # tokens per group 40, 10, 30, 20: zero-advantage tokens 10 + 30 + 20 of 100
    assert wasted_fraction(groups, [40, 10, 30, 20]) == pytest.approx(0.6)
    # the arena weighs each response 1: 2 + 6 + 2 of 14 responses
    assert wasted_fraction(groups, [g.n for g in groups]) == pytest.approx(10 / 14)
    assert effective_ratio([]) is None and wasted_fraction([], []) is None
    with pytest.raises(ValueError, match="4 groups but weights"):
        wasted_fraction(groups, [1, 2])
    with pytest.raises(ValueError, match="negative weights at positions \\[1\\]"):
        wasted_fraction(groups, [1, -2, 3, 4])


def test_calibration_by_hand():
    p, y, n = np.array([0.2, 0.8, 0.5]), np.array([0.0, 1.0, 0.5]), np.array([2.0, 2.0, 4.0])
    out = calibration(p, y, n)
    # Brier over responses: p=0.2 vs 0,0 -> 0.04 each; p=0.8 vs 1,1 -> 0.04; p=0.5 vs two 1s two 0s -> 0.25
    assert out["brier"] == pytest.approx((2 * 0.04 + 2 * 0.04 + 4 * 0.25) / 8)
    assert out["pearson"] == pytest.approx(1.0) and out["spearman"] == pytest.approx(1.0)
    assert out["bias"] == pytest.approx(0.5 - 0.5)  # mean p (0.2+0.8+0.5)/3 minus mean ȳ (0+1+0.5)/3
    # Pearson of (0.1, 0.4, 0.9) vs (1, 0, 0.5): means 7/15 and 1/2; Σ dp·dy = -11/30·1/2 - 1/15·(-1/2) = -0.15;
    # Σ dp² = (121 + 4 + 169)/900 = 294/900, Σ dy² = 0.5
    p2, y2 = np.array([0.1, 0.4, 0.9]), np.array([1.0, 0.0, 0.5])
    out2 = calibration(p2, y2, np.ones(3))
    assert out2["pearson"] == pytest.approx(-0.15 / np.sqrt(294 / 900 * 0.5))
    assert out2["spearman"] == pytest.approx(-0.5)  # ranks (0,1,2) vs (2,0,1)
    assert out2["bias"] == pytest.approx(1.4 / 3 - 1.5 / 3)
    flat = calibration(np.array([0.5, 0.5]), np.array([0.0, 1.0]), np.array([2.0, 2.0]))
    assert "pearson" not in flat and "spearman" not in flat and flat["brier"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match=r"outside \[0, 1\] at rows \[1\]"):
        calibration(np.array([0.5, 1.2]), np.array([0.0, 1.0]), np.array([2.0, 2.0]))
    with pytest.raises(ValueError, match="must be equal"):
        calibration(np.array([0.5]), np.array([0.0, 1.0]), np.array([2.0, 2.0]))


def test_spearman_averages_ties():
    # x ranks with the tie averaged: (0.5, 0.5, 2, 3); y ranks (0, 1, 2, 3) -> Pearson of those
    x, y = np.array([1.0, 1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0, 4.0])
    expected = np.corrcoef([0.5, 0.5, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0])[0, 1]
    assert spearman(x, y) == pytest.approx(expected)
    assert np.isnan(spearman(np.ones(3), y[:3]))


def test_tracker_pool_health_and_coverage_by_hand():
    t = PromptTracker(10)
    assert t.metrics() == {"unseen": 1.0, "coverage": 0.0}
    # step 1: prompt 0 trained 0/4, prompt 1 trained 2/4, prompt 2 screened 4/4, prompt 1 also screened 2/4 more
    t.update([_g(0, [0, 0, 0, 0]), _g(1, [1, 1, 0, 0])], [_g(2, [1, 1, 1, 1]), _g(1, [1, 1, 0, 0], "s")])
    m = t.metrics()
    assert m["unseen"] == pytest.approx(0.7) and m["coverage"] == pytest.approx(0.2)
    assert (m["seen_lt_0.05"], m["seen_between"], m["seen_gt_0.95"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert t.last[1] == pytest.approx(0.5)  # 4 of 8 responses of the step, pooled
    # step 2: prompt 0 solved now (last observation replaces the old one), prompt 3 trained twice (drawn twice)
    t.update([_g(0, [1, 0]), _g(3, [1, 1], "a"), _g(3, [1, 1], "b")])
    m = t.metrics()
    assert m["unseen"] == pytest.approx(0.6) and m["coverage"] == pytest.approx(0.3)
    # seen: 0 -> 0.5, 1 -> 0.5, 2 -> 1.0, 3 -> 1.0
    assert (m["seen_lt_0.05"], m["seen_between"], m["seen_gt_0.95"]) == pytest.approx((0.0, 0.5, 0.5))
    with pytest.raises(ValueError, match="outside the pool of 10 at rows \\[0\\]"):
        t.update([_g(10, [1, 0])])


def test_tracker_counts_equal_a_full_recount_and_survive_a_round_trip():
    rng = np.random.default_rng(0)
    t = PromptTracker(500)
    for _ in range(40):
        idx = rng.integers(0, 500, 24)
        sizes = rng.integers(1, 9, 24)
        succ = rng.binomial(sizes, rng.uniform(0, 1, 24))
        t.update_arrays(idx, succ, sizes, idx[:16])
    fresh = PromptTracker(500)
    fresh.load_state_dict(pickle.loads(pickle.dumps(t.state_dict())))  # recount from the arrays
    assert fresh.metrics() == t.metrics()
    np.testing.assert_array_equal(fresh.trained, t.trained)
    np.testing.assert_array_equal(fresh.last, t.last)
    assert t.metrics()["coverage"] == pytest.approx(np.unique(t.trained.nonzero()[0]).size / 500)
    with pytest.raises(ValueError, match="pool of 500 prompts, this run has 400"):
        PromptTracker(400).load_state_dict(t.state_dict())


def test_tracker_is_o_pool_memory_and_o_step_update():
    t = PromptTracker(1_000_000)
    assert t.last.nbytes + t.trained.nbytes == 5_000_000
    assert len(t.state_dict()["trained"]) == 125_000  # bit-packed in the checkpoint
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 1_000_000, 1024)
    t0 = time.perf_counter()
    for _ in range(20):
        t.update_arrays(idx, np.ones(1024, dtype=np.int64), np.full(1024, 8), idx)
    per_step = (time.perf_counter() - t0) / 20
    assert per_step < 0.02, f"{per_step * 1000:.1f} ms per update at m = 1024 over 10^6 prompts"
