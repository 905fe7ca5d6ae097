"""Knapsack allocation (arXiv 2509.25849): value function, exact allocation vs brute force, the strategy, state."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from verl_ext.curriculum import build_curriculum
from verl_ext.curriculum.base import Group
from verl_ext.curriculum.knapsack import (
    KnapsackConfig,
    KnapsackCurriculum,
    allocate_knapsack,
    knapsack_value,
    spread_evenly,
)
from verl_ext.curriculum.testing import FakeRolloutContext, roundtrip_state, run_steps


def test_value_by_hand() -> None:
    assert knapsack_value(0.5, 2) == pytest.approx((1 - 0.25 - 0.25) * 0.5 * 0.25)
    assert knapsack_value(0.25, 4) == pytest.approx(174 / 256 * 0.25 * 0.5625)
    np.testing.assert_allclose(knapsack_value(np.array([0.0, 1.0, 0.3]), np.array([8, 8, 1])), [0.0, 0.0, 0.0])


def test_allocation_by_hand() -> None:
    # p = (.5, .9), N = 6, n in [2, 4]: (2,4) .06559, (3,3) .09618, (4,2) .11100 -> (4, 2)
    assert allocate_knapsack(np.array([0.5, 0.9]), 6, 2, 4).tolist() == [4, 2]
    assert allocate_knapsack(np.array([0.5, 0.5]), 5, 2, 4).tolist() == [3, 2]  # tie: lower position first
    assert allocate_knapsack(np.array([0.2]), 7, 7, 7).tolist() == [7]
    with pytest.raises(ValueError, match="outside"):
        allocate_knapsack(np.array([0.5, 0.5]), 9, 2, 4)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        allocate_knapsack(np.array([1.5]), 2, 1, 4)


def _brute_force(p: np.ndarray, budget: int, lo: np.ndarray, hi: np.ndarray) -> float:
    best = -np.inf
    for n in itertools.product(*[range(a, b + 1) for a, b in zip(lo, hi, strict=True)]):
        if sum(n) == budget:
            best = max(best, float(knapsack_value(p, np.array(n)).sum()))
    return best


def test_exact_against_brute_force_every_small_case() -> None:
    """Every m <= 6 and every feasible N <= 8, over bounds and success rates (including 0, 1 and equal rates)."""
    rng = np.random.default_rng(0)
    grid = np.array([0.0, 0.1, 0.25, 0.5, 0.5, 0.75, 0.9, 1.0])
    cases = 0
    for m in range(1, 7):
        for budget in range(0, 9):
            for trial in range(6):
                lo = rng.integers(0, 2, size=m)
                hi = lo + rng.integers(0, 9, size=m)
                if not lo.sum() <= budget <= hi.sum():
                    continue
                p = grid[rng.integers(0, grid.size, size=m)] if trial % 2 else rng.random(m)
                n = allocate_knapsack(p, budget, lo, hi)
                assert n.sum() == budget and np.all(n >= lo) and np.all(n <= hi), (p, budget, lo, hi, n)
                got = float(knapsack_value(p, n).sum())
                assert got == pytest.approx(_brute_force(p, budget, lo, hi), abs=1e-12, rel=1e-12)
                cases += 1
    assert cases > 150


def _heap_greedy(p: np.ndarray, budget: int, lo: int, hi: int) -> float:
    n = np.full(p.size, lo)
    for _ in range(budget - lo * p.size):
        gain = np.where(n < hi, knapsack_value(p, n + 1) - knapsack_value(p, n), -np.inf)
        n[int(np.argmax(gain))] += 1
    return float(knapsack_value(p, n).sum())


def test_exact_when_a_few_prompts_take_most_of_the_budget() -> None:
    """Budgets that force the allocator past its first computed width (16 increments) to the full range."""
    rng = np.random.default_rng(2)
    for m, budget, hi in ((3, 120, 64), (20, 400, 128), (10, 300, 40)):
        p = np.concatenate([[0.5, 0.45], rng.choice([0.001, 0.999, 0.02], size=m - 2)])
        n = allocate_knapsack(p, budget, 2, hi)
        assert n.sum() == budget and n.min() >= 2 and n.max() <= hi and n.max() > 18
        assert float(knapsack_value(p, n).sum()) == pytest.approx(_heap_greedy(p, budget, 2, hi), rel=1e-12)


def test_spread_evenly() -> None:
    n = np.array([2, 2, 5, 2])
    assert spread_evenly(n, np.array([0, 2, 3]), 5, 5) == 0
    assert n.tolist() == [5, 2, 5, 4]  # +2 each (position 2 is at the cap), then the last one to the earlier
    assert spread_evenly(n, np.array([3]), 3, 5) == 2 and n[3] == 5


def _groups(pairs: list[tuple[int, list[float]]]) -> list[Group]:
    return [Group(handle=f"g{i}", index=i, rewards=np.array(r)) for i, r in pairs]


def test_strategy_categories_by_hand() -> None:
    cur = KnapsackCurriculum(KnapsackConfig(batch_size=4, n=4, n_max=128), 4)
    ctx = FakeRolloutContext(np.full(4, 0.5), seed=0)
    cur.run_step(ctx)
    assert ctx.record.calls[0][2].tolist() == [4, 4, 4, 4]  # every prompt unseen: the default n
    cur.observe(_groups([(0, [0, 0, 0, 0]), (1, [1, 1, 1, 1]), (2, [1, 0, 1, 0]), (3, [1, 0, 0, 0])]))
    idx = np.arange(4)
    n, masks = cur.allocate(idx)
    assert masks["zero"].tolist() == [True, False, False, False] and masks["one"].tolist() == [
        False,
        True,
        False,
        False,
    ]
    assert n[:2].tolist() == [2, 2] and n.sum() == 16
    # the two informative prompts share 12 responses; p̂ = 3/6 and 2/6 under Beta(1, 1)
    p = np.array([3 / 6, 2 / 6])
    best = max(range(2, 11), key=lambda a: float(knapsack_value(p, np.array([a, 12 - a])).sum()))
    assert n[2:].tolist() == [best, 12 - best]


def test_surplus_goes_to_all_wrong_prompts_first() -> None:
    cur = KnapsackCurriculum(KnapsackConfig(batch_size=4, n=4, n_max=5), 4)
    cur.observe(_groups([(0, [0, 0, 0, 0]), (1, [1, 1, 1, 1]), (2, [1, 0, 1, 0]), (3, [1, 0, 0, 0])]))
    n, _ = cur.allocate(np.arange(4))
    assert n.tolist() == [4, 2, 5, 5]  # informative capped at 5 each; the 2 left go to the all-wrong prompt


def test_budget_is_exact_over_a_run() -> None:
    rates = np.random.default_rng(1).choice([0.0, 0.2, 0.5, 0.9, 1.0], size=200)
    cur = build_curriculum("knapsack", {"batch_size": 32, "n": 8, "n_max": 32}, 200)
    ctx = FakeRolloutContext(rates, seed=2)
    for idx, n in run_steps(cur, ctx, 20):
        assert n.sum() == 32 * 8 and n.min() >= 2 and n.max() <= 32 and np.unique(idx).size == 32
    # by now the allocation is unequal and favours informative prompts
    n, masks = cur.allocate(np.arange(32))
    assert masks["info"].any() and n[masks["info"]].mean() > n[~masks["info"]].mean()


def test_state_roundtrip_gives_identical_next_proposals() -> None:
    rates = np.random.default_rng(3).random(50)
    for via in ("pickle", "torch"):
        a = KnapsackCurriculum(KnapsackConfig(batch_size=8, n=4, n_max=16, decay=0.8, seed=1), 50)
        run_steps(a, FakeRolloutContext(rates, seed=0), 9)
        b = KnapsackCurriculum(KnapsackConfig(batch_size=8, n=4, n_max=16, decay=0.8, seed=7), 50)
        b.load_state_dict(roundtrip_state(a.state_dict(), via))
        out_a = run_steps(a, FakeRolloutContext(rates, seed=5), 8)
        out_b = run_steps(b, FakeRolloutContext(rates, seed=5), 8)
        assert [(i.tolist(), n.tolist()) for i, n in out_a] == [(i.tolist(), n.tolist()) for i, n in out_b]


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_min": 1}, "n_min"),
        ({"n_min": 20, "n": 16}, "n_min <= n"),
        ({"n_max": 8, "n": 16}, "n_max"),
        ({"min_history": 0}, "min_history"),
        ({"decay": -0.1}, "decay"),
        ({"beta0": 0}, "beta0"),
    ],
)
def test_bad_config_names_the_key(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        KnapsackConfig(**params)
