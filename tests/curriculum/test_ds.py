"""Dynamic Sampling (docs/methods/ds.md) against the seeded fake rollout context."""

from __future__ import annotations

import numpy as np
import pytest

from verl_ext.curriculum import GenerationBudgetExceeded, build_curriculum
from verl_ext.curriculum.ds import DSConfig, DynamicSamplingCurriculum
from verl_ext.curriculum.testing import FakeRolloutContext, roundtrip_state, run_with_metrics

M, N, K = 16, 8, 2


def _rates(num: int, seed: int = 0) -> np.ndarray:
    """A third always wrong, a third always right, a third informative-ish."""
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([0.0, 1.0, 0.5, 0.3]), size=num, p=[0.3, 0.3, 0.2, 0.2])


_roundtrip = roundtrip_state
_run = run_with_metrics


def test_commits_exactly_m_informative_groups_of_n() -> None:
    rates = _rates(400)
    cur = DynamicSamplingCurriculum(DSConfig(batch_size=M, n=N, k=K, seed=3), 400)
    ctx = FakeRolloutContext(rates, seed=0)
    metrics = _run(cur, ctx, 6)
    for rec, met in zip(ctx.history[:-1], metrics):
        assert rec.committed is not None and len(rec.committed) == M
        for h in rec.committed:
            g = ctx.group(h)
            assert g.n == N and 0 < g.successes < N
        assert met["ds/kept"] >= M and met["ds/surplus_discarded"] == met["ds/kept"] - M
        assert met["ds/candidates"] == met["ds/rounds"] * K * M
        assert met["ds/kept"] + met["ds/all_correct"] + met["ds/all_wrong"] == met["ds/candidates"]


def test_each_round_requests_km_fresh_prompts_and_releases_the_rest() -> None:
    # Pool of 3·k·m prompts with few informative ones: rounds cross pass boundaries inside a step.
    rates = np.where(np.arange(96) % 3 == 0, 0.5, 1.0)
    cur = DynamicSamplingCurriculum(DSConfig(batch_size=M, n=N, k=K, seed=1, max_gen_rounds=10), 96)
    ctx = FakeRolloutContext(rates, seed=1)
    metrics = _run(cur, ctx, 5)
    assert any(met["ds/rounds"] > 1 for met in metrics)
    assert cur.sampler.data_epoch >= 1
    for rec in ctx.history[:-1]:
        assert all(method == "generate" and idx.size == K * M and set(n) == {N} for method, idx, n in rec.calls)
        requested = np.concatenate([idx for _, idx, _ in rec.calls])
        assert np.unique(requested).size == requested.size  # no prompt twice within a step
        committed, released = set(rec.committed), set(rec.released)
        assert not committed & released
        assert committed | released == set(rec.generated)


def test_constant_rewards_raise_after_exactly_R_rounds() -> None:
    for rate, word in ((1.0, "all-correct"), (0.0, "all-wrong")):
        cur = DynamicSamplingCurriculum(DSConfig(batch_size=M, n=N, k=1, seed=0, max_gen_rounds=4), 200)
        ctx = FakeRolloutContext(np.full(200, rate), seed=0)
        with pytest.raises(GenerationBudgetExceeded) as err:
            cur.run_step(ctx)
        assert ctx.rounds == 4
        msg = str(err.value)
        for part in ("step 1", f"0/{M}", "4 generation rounds", f"{4 * M} prompts", f"{4 * M * N} responses"):
            assert part in msg
        assert f"{4 * M} {word}" in msg
        assert "max_gen_rounds" in msg and "curriculum.k" in msg and "reward" in msg
        assert len(ctx.released) == 4 * M


def test_state_roundtrip_gives_identical_next_proposals() -> None:
    rates = _rates(300, seed=5)
    for via in ("pickle", "torch"):
        a = DynamicSamplingCurriculum(DSConfig(batch_size=M, n=N, k=K, seed=11), 300)
        _run(a, FakeRolloutContext(rates, seed=2), 3)
        b = DynamicSamplingCurriculum(DSConfig(batch_size=M, n=N, k=K, seed=99), 300)
        b.load_state_dict(_roundtrip(a.state_dict(), via))
        ctx_a, ctx_b = FakeRolloutContext(rates, seed=7), FakeRolloutContext(rates, seed=7)
        _run(a, ctx_a, 6)
        _run(b, ctx_b, 6)
        prop_a = np.concatenate([idx for rec in ctx_a.history for _, idx, _ in rec.calls])
        prop_b = np.concatenate([idx for rec in ctx_b.history for _, idx, _ in rec.calls])
        assert prop_a.size >= 100 and np.array_equal(prop_a, prop_b)
        commits = [[ctx_a.group(h).index for h in r.committed] for r in ctx_a.history[:-1]]
        assert commits == [[ctx_b.group(h).index for h in r.committed] for r in ctx_b.history[:-1]]
        assert a.totals == b.totals


def test_bad_hyper_parameters_name_the_fix() -> None:
    with pytest.raises(ValueError, match="curriculum.k must be an integer >= 1"):
        DSConfig(k=0)
    with pytest.raises(ValueError, match=r"k·m candidates = 256 distinct prompts per step but the pool has 200"):
        DynamicSamplingCurriculum(DSConfig(batch_size=64, k=4), 200)
    with pytest.raises(ValueError, match="valid options"):
        build_curriculum("ds", {"kk": 2}, 100)
    cur = build_curriculum("ds", {"k": 1, "batch_size": 4, "n": 4}, 100)
    assert isinstance(cur, DynamicSamplingCurriculum) and cur.config.k == 1


def test_pool_exhausted_within_a_step_raises_budget_error() -> None:
    # 64 prompts, k·m = 32: a third round would have to repeat a prompt of this step.
    cur = DynamicSamplingCurriculum(DSConfig(batch_size=M, n=N, k=K, seed=0, max_gen_rounds=10), 64)
    ctx = FakeRolloutContext(np.ones(64), seed=0)
    with pytest.raises(GenerationBudgetExceeded, match="only 0 of the pool of 64 were not yet rolled out"):
        cur.run_step(ctx)
    assert ctx.rounds == 2
