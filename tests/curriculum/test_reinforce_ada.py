"""Reinforce-Ada (arXiv 2510.04996): exit conditions, balanced down-sampling, rounds inside a step, state round trip."""

from __future__ import annotations

import numpy as np
import pytest

from verl_ext.curriculum import build_curriculum, list_curricula
from verl_ext.curriculum.reinforce_ada import (
    ReinforceAdaConfig,
    ReinforceAdaCurriculum,
    is_finished,
    keep_counts,
    keep_positions,
)
from verl_ext.curriculum.testing import FakeRolloutContext, roundtrip_state, run_steps


def _ada(num_prompts=8, m=4, n=4, seed=0, **kw) -> ReinforceAdaCurriculum:
    return ReinforceAdaCurriculum(ReinforceAdaConfig(batch_size=m, n=n, seed=seed, **kw), num_prompts)


def test_registered():
    assert "reinforce_ada" in list_curricula()


def test_exit_conditions():
    # balanced, n = 5: ⌊5/2⌋ = 2 positives and ⌈5/2⌉ = 3 negatives
    assert is_finished(2, 3, 5, "balanced") and not is_finished(3, 2, 5, "balanced")
    assert not is_finished(1, 10, 4, "balanced") and is_finished(2, 2, 4, "balanced")
    assert is_finished(1, 0, 4, "positive_focused") and not is_finished(0, 12, 4, "positive_focused")
    with pytest.raises(ValueError, match="mode"):
        is_finished(1, 1, 4, "greedy")


@pytest.mark.parametrize(
    "rewards, mode, finished, expected",
    [
        # balanced, finished over 8 responses: the first 2 positives (0, 1) and the first 2 negatives (3, 4)
        ([1, 1, 1, 0, 0, 1, 0, 0], "balanced", True, [0, 1, 3, 4]),
        # balanced, unfinished (one negative only): 2 positives + 1 negative, shortfall filled by a third positive
        ([1, 1, 1, 1, 1, 1, 1, 0], "balanced", False, [0, 1, 2, 7]),
        # balanced, never solved: the first n negatives
        ([0, 0, 0, 0, 0, 0, 0, 0], "balanced", False, [0, 1, 2, 3]),
        # positive-focused, finished in round 1 with one positive out of 4: everything (1 positive, 3 negatives)
        ([0, 0, 0, 1], "positive_focused", True, [0, 1, 2, 3]),
        # positive-focused, finished in round 2: 2 positives (5, 6) and 2 negatives (0, 1)
        ([0, 0, 0, 0, 0, 1, 1, 0], "positive_focused", True, [0, 1, 5, 6]),
        # positive-focused, unfinished (no positive): k⁺ = max(min(⌈0⌉, 3), 1) = 1 unavailable -> 4 negatives
        ([0, 0, 0, 0, 0, 0, 0, 0], "positive_focused", False, [0, 1, 2, 3]),
    ],
)
def test_keep_positions_hand_computed(rewards, mode, finished, expected):
    assert keep_positions(np.array(rewards, dtype=float), 4, mode, finished).tolist() == expected


def test_keep_counts_proportional_for_unfinished_positive_focused():
    # hypothetical unfinished group with P = 1, N = 7 (not reachable: P ≥ 1 finishes) -> k⁺ = max(min(⌈4/8⌉, 3), 1)
    assert keep_counts(1, 7, 4, "positive_focused", False) == (1, 3)
    assert keep_counts(6, 2, 4, "positive_focused", False) == (3, 1)  # ⌈0.75·4⌉ = 3
    assert keep_counts(1, 1, 4, "balanced", False) == (1, 1)  # fewer than n collected: all of them


def test_rounds_extend_only_the_active_prompts_then_trim_to_n():
    # prompts 0-1 always right, 2-3 half, 4-7 never: balanced n = 4, round_n = 4, max_rounds = 3
    rates = np.array([1.0, 1.0, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0])
    cur = _ada(num_prompts=8, m=8, n=4, seed=0, round_n=4, max_rounds=3)
    ctx = FakeRolloutContext(rates, seed=1)
    metrics = cur.run_step(ctx)
    calls = ctx.record.calls
    assert calls[0][0] == "generate" and set(calls[0][2].tolist()) == {4}
    extends = [c for c in calls if c[0] == "extend"]
    # the always-right and never-right prompts never finish: extended in rounds 2 and 3 (max_rounds)
    assert len(extends) == 2 and all({0, 1, 4, 5, 6, 7} <= set(c[1].tolist()) for c in extends)
    assert metrics["reinforce_ada/rounds"] == 3.0 and ctx.record.rounds == 3
    trained = ctx.committed_with_rewards()
    assert len(trained) == 8 and all(g.n == 4 for g in trained)
    by_index = {g.index: g for g in trained}
    assert by_index[0].successes == 4 and by_index[4].successes == 0  # unfinished: trained with what they have
    assert metrics["reinforce_ada/finished"] == 2.0  # the two p = 0.5 prompts (seeded draws), down to 2 + 2
    assert by_index[2].successes == by_index[3].successes == 2
    assert ctx.record.responses == ctx.responses == metrics["reinforce_ada/responses"]
    assert metrics["reinforce_ada/kept"] == 32 and metrics["reinforce_ada/dropped"] == ctx.responses - 32
    assert metrics["reinforce_ada/active_round_1"] == 8.0


def test_prompts_that_exit_in_round_one_are_not_extended():
    rates = np.array([0.5] * 6)
    cur = _ada(num_prompts=6, m=6, n=2, seed=0, round_n=2, max_rounds=1, mode="positive_focused")
    ctx = FakeRolloutContext(rates, seed=0)
    cur.run_step(ctx)
    assert [c[0] for c in ctx.record.calls] == ["generate"]  # max_rounds = 1: no extension, no trim (2 = n)
    assert all(g.n == 2 for g in ctx.committed_with_rewards())


def test_context_without_trim_is_refused():
    class NoTrim:
        step = 1

    with pytest.raises(NotImplementedError, match="trim"):
        _ada().run_step(NoTrim())  # type: ignore[arg-type]


def test_state_round_trip_resumes_bit_exactly():
    rates = np.linspace(0.0, 1.0, 12)
    a = _ada(num_prompts=12, m=3, n=4, seed=3, round_n=2, max_rounds=4)
    run_steps(a, FakeRolloutContext(rates, seed=4), 3)
    for via in ("pickle", "torch"):
        b = _ada(num_prompts=12, m=3, n=4, seed=77, round_n=2, max_rounds=4)
        b.load_state_dict(roundtrip_state(a.state_dict(), via))
        assert b.totals == a.totals
        got_a = run_steps(_clone(a), FakeRolloutContext(rates, seed=9), 2)
        got_b = run_steps(b, FakeRolloutContext(rates, seed=9), 2)
        assert [x.tolist() for x, _ in got_a] == [x.tolist() for x, _ in got_b]


def _clone(cur: ReinforceAdaCurriculum) -> ReinforceAdaCurriculum:
    c = ReinforceAdaCurriculum(cur.config, cur.num_prompts)
    c.load_state_dict(cur.state_dict())
    return c


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="mode"):
        ReinforceAdaConfig(mode="greedy")
    with pytest.raises(ValueError, match="round_n"):
        ReinforceAdaConfig(n=4, round_n=1)
    with pytest.raises(ValueError, match="max_rounds"):
        ReinforceAdaConfig(max_rounds=11, max_gen_rounds=10)
    with pytest.raises(ValueError, match="round_n·max_rounds"):
        ReinforceAdaConfig(n=16, round_n=4, max_rounds=3)
    assert ReinforceAdaConfig(n=8).round_n == 8  # null -> n
    with pytest.raises(ValueError, match="no option"):
        build_curriculum("reinforce_ada", {"batch_size": 2, "n": 2, "global_stat_est": True}, num_prompts=4)
