"""The skip schedule: |S| = round(r L) from the allowed layers, fresh sets per step, RNG restored bit-exactly."""

from __future__ import annotations

import pytest

from verl_ext.nested.schedule import SkipSchedule, SkipScheduleConfig


def test_random_sets_have_the_ratio_size_avoid_protected_layers_and_change_between_steps() -> None:
    s = SkipSchedule(SkipScheduleConfig(skip_ratio=0.25, protect_first=2, protect_last=2, seed=3), num_layers=16)
    draws = [s.draw() for _ in range(20)]
    assert all(len(d) == 4 for d in draws)
    assert all(2 <= min(d) and max(d) <= 13 for d in draws)
    assert len({tuple(d) for d in draws}) > 10


def test_contiguous_sets_are_one_block() -> None:
    s = SkipSchedule(SkipScheduleConfig(skip_ratio=0.5, mode="contiguous", seed=0), num_layers=8)
    for _ in range(10):
        d = s.draw()
        assert len(d) == 4 and d == list(range(d[0], d[0] + 4)) and d[0] >= 1 and d[-1] <= 6


def test_ratio_zero_is_the_full_model_and_full_every_interleaves_full_steps() -> None:
    assert all(SkipSchedule(SkipScheduleConfig(skip_ratio=0.0), 8).draw() == [] for _ in range(3))
    s = SkipSchedule(SkipScheduleConfig(skip_ratio=0.5, full_every=3), 8)
    sizes = [len(s.draw()) for _ in range(6)]
    assert sizes == [4, 4, 0, 4, 4, 0]


def test_state_round_trip_continues_the_same_sequence() -> None:
    cfg = SkipScheduleConfig(skip_ratio=0.5, seed=11)
    a = SkipSchedule(cfg, 10)
    [a.draw() for _ in range(3)]
    state = a.state_dict()
    expected = [a.draw() for _ in range(4)]
    b = SkipSchedule(cfg, 10)
    b.load_state_dict(state)
    assert [b.draw() for _ in range(4)] == expected and b.draws == 7
    other = SkipSchedule(SkipScheduleConfig(skip_ratio=0.25, seed=11), 10)
    with pytest.raises(ValueError, match="resume with the same nested.schedule"):
        other.load_state_dict(state)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"skip_ratio": 1.0}, "skip_ratio must be in"),
        ({"protect_first": 0}, "layer 0 is never skipped"),
        ({"mode": "stride"}, "valid: random, contiguous"),
        ({"full_every": -1}, "full_every must be >= 0"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SkipScheduleConfig(**kw)


def test_a_ratio_that_skips_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="skips no layer"):
        SkipSchedule(SkipScheduleConfig(skip_ratio=0.1), num_layers=4)
