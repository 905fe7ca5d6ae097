"""GRESO (GRESO Alg. 1; docs/methods/greso.md): skip rule, B update, p adaptation, history, bound, state round trip."""

from __future__ import annotations

import numpy as np
import pytest

from verl_ext.curriculum import GenerationBudgetExceeded
from verl_ext.curriculum.greso import (
    GresoConfig,
    GresoCurriculum,
    history_skip_probability,
    next_rollout_batch,
    skip_probability,
    update_keep_probability,
)
from verl_ext.curriculum.testing import FakeRolloutContext, roundtrip_state, run_with_metrics

M, N = 16, 8


_roundtrip = roundtrip_state
_run = run_with_metrics


def _cfg(**kw: object) -> GresoConfig:
    base = {"batch_size": M, "n": N, "rollout_batch": 48, "min_rollout_batch": 8, "fetch_chunk": 8, "seed": 0}
    return GresoConfig(**{**base, **kw})


def _rates(num: int) -> np.ndarray:
    return np.random.default_rng(1).choice(np.array([0.0, 1.0, 0.5, 0.9]), size=num, p=[0.3, 0.4, 0.2, 0.1])


def test_skip_probabilities_match_the_spec() -> None:
    assert history_skip_probability([1, 1], 0.5, 0.5) == pytest.approx(0.75)
    assert history_skip_probability([0, 0, 0], 0.5, 0.5) == pytest.approx(0.875)
    assert history_skip_probability([1.0] * 10, 0.5, 0.5) == pytest.approx(0.99)
    assert history_skip_probability([1, 0], 0.5, 0.5) == pytest.approx(0.5)
    assert history_skip_probability([0.5], 0.5, 0.5) == 0.0
    assert history_skip_probability([], 0.5, 0.5) == 0.0
    assert history_skip_probability([15 / 16], 0.5, 0.5) == 0.0  # 15 of 16 correct is not easy
    assert history_skip_probability([0, 1, 1], 0.9, 0.1) == pytest.approx(1 - 0.81)  # easy run uses p_easy
    assert skip_probability(0, 0.5) == 0.0 and skip_probability(3, 0.8) == pytest.approx(1 - 0.512)
    with pytest.raises(ValueError):
        skip_probability(-1, 0.5)


def test_keep_probability_update_and_clipping() -> None:
    assert update_keep_probability(0.5, 0.10, 0.083, 0.01, 0.05, 0.95) == pytest.approx(0.49)
    assert update_keep_probability(0.5, 0.05, 0.083, 0.01, 0.05, 0.95) == pytest.approx(0.51)
    assert update_keep_probability(0.05, 0.9, 0.083, 0.01, 0.05, 0.95) == pytest.approx(0.05)
    assert update_keep_probability(0.95, 0.0, 0.083, 0.01, 0.05, 0.95) == pytest.approx(0.95)


def test_next_rollout_batch() -> None:
    assert next_rollout_batch(512 - 300, 0.4, 768, 64, 1.25) == 441
    assert next_rollout_batch(512 - 300, 0.99, 768, 64, 1.25) == 768
    assert next_rollout_batch(3, 0.0, 768, 64, 1.25) == 64


def test_commits_m_informative_and_records_every_rollout() -> None:
    cur = GresoCurriculum(_cfg(), 300)
    ctx = FakeRolloutContext(_rates(300), seed=0)
    size = 0
    for _ in range(12):
        met = cur.run_step(ctx)
        rec = ctx.record
        rolled = sum(idx.size for _, idx, _ in rec.calls)
        assert all(method == "generate" for method, _, _ in rec.calls)
        assert cur.history_size == size + rolled == met["greso/history_size"]  # released surplus included
        size = cur.history_size
        assert len(rec.committed) == M
        assert all(0 < ctx.group(h).successes < N for h in rec.committed)
        requested = np.concatenate([idx for _, idx, _ in rec.calls])
        assert np.unique(requested).size == requested.size
        assert set(rec.committed) | set(rec.released) == set(rec.generated)
        ctx.new_step()
    assert cur.data_epoch >= 1
    # the incremental trailing runs agree with the rule applied to the stored history
    for index in range(300):
        _, correct = cur.history(index)
        expected = history_skip_probability((correct / N).tolist(), cur.p_easy, cur.p_hard)
        z_e, z_h = cur.trail_easy[index], cur.trail_hard[index]
        got = skip_probability(int(z_e), cur.p_easy) if z_e else skip_probability(int(z_h), cur.p_hard)
        assert got == pytest.approx(expected)


def test_skips_zero_variance_prompts_and_adapts_after_first_epoch() -> None:
    cur = GresoCurriculum(_cfg(), 200)
    ctx = FakeRolloutContext(_rates(200), seed=3)
    metrics, epochs = [], []
    for _ in range(30):  # each step's metrics and the data epoch it drew from
        metrics.append(cur.run_step(ctx))
        epochs.append(cur.data_epoch)
        cur.observe(ctx.committed_with_rewards(), ctx.screened_with_rewards())
        ctx.new_step()
    first_epoch = [m for m, e in zip(metrics, epochs) if e == 0]
    assert first_epoch and all(m["greso/p_easy"] == 0.5 and m["greso/p_hard"] == 0.5 for m in first_epoch)
    later = [m for m, e in zip(metrics, epochs) if e >= 1]
    assert later and any(m["greso/p_easy"] != 0.5 for m in later)
    assert sum(m["greso/skipped_easy"] for m in later) > 0 and sum(m["greso/skipped_hard"] for m in later) > 0
    saved = sum(m["greso/rollouts_saved"] for m in metrics)
    assert saved == N * sum(m["greso/skipped_easy"] + m["greso/skipped_hard"] for m in metrics)
    # each step's p moves by exactly Δp (or is clipped) once adaptation is on
    for prev, cur_m, epoch in zip(metrics, metrics[1:], epochs[1:]):
        if epoch >= 1:
            assert abs(cur_m["greso/p_easy"] - prev["greso/p_easy"]) in (pytest.approx(0.01), 0.0)


def test_constant_rewards_raise_after_exactly_R_rounds() -> None:
    cur = GresoCurriculum(_cfg(max_gen_rounds=3, rollout_batch=24), 400)
    ctx = FakeRolloutContext(np.ones(400), seed=0)
    with pytest.raises(GenerationBudgetExceeded, match=r"greso: step 1 kept only 0/16 .* 3 generation rounds"):
        cur.run_step(ctx)
    assert ctx.rounds == 3


def test_whole_pool_scan_that_cannot_fill_raises() -> None:
    cur = GresoCurriculum(_cfg(p_min=0.05, p_easy=0.05, rollout_batch=64), 200)
    cur.trail_easy[:] = 10  # everything looked too easy ten times: skip w.p. 0.99
    with pytest.raises(GenerationBudgetExceeded, match="scanned the whole pool of 200 prompts"):
        cur.run_step(FakeRolloutContext(np.full(200, 0.5), seed=0))


def test_state_roundtrip_gives_identical_next_decisions() -> None:
    rates = _rates(250)
    for via in ("pickle", "torch"):
        a = GresoCurriculum(_cfg(seed=5), 250)
        _run(a, FakeRolloutContext(rates, seed=1), 25)
        state = _roundtrip(a.state_dict(), via)
        b = GresoCurriculum(_cfg(seed=6), 250)
        b.load_state_dict(state)
        probe = np.arange(100) * 2
        skip_a, easy_a = a.skip_decisions(probe)
        skip_b, easy_b = b.skip_decisions(probe)
        assert skip_a.any() and np.array_equal(skip_a, skip_b) and np.array_equal(easy_a, easy_b)
        ctx_a, ctx_b = FakeRolloutContext(rates, seed=8), FakeRolloutContext(rates, seed=8)
        met_a, met_b = _run(a, ctx_a, 5), _run(b, ctx_b, 5)
        assert met_a == met_b
        calls_a = [idx.tolist() for rec in ctx_a.history for _, idx, _ in rec.calls]
        assert calls_a == [idx.tolist() for rec in ctx_b.history for _, idx, _ in rec.calls]
        for index in (0, 17, 249):
            assert all(np.array_equal(x, y) for x, y in zip(a.history(index), b.history(index)))
        assert a.history(0)[0].dtype == np.int16 and a.history(0)[1].dtype == np.uint8


def test_bad_hyper_parameters_name_the_fix() -> None:
    with pytest.raises(ValueError, match="p_min <= p_max"):
        GresoConfig(p_min=0.9, p_max=0.1)
    with pytest.raises(ValueError, match=r"curriculum.p_easy=0.99 must lie in \[p_min, p_max\]"):
        GresoConfig(p_easy=0.99)
    with pytest.raises(ValueError, match="min_rollout_batch <= rollout_batch"):
        GresoConfig(rollout_batch=32, min_rollout_batch=64)
    with pytest.raises(ValueError, match="overshoot"):
        GresoConfig(overshoot=0.5)
    with pytest.raises(ValueError, match="fetch_chunk"):
        GresoConfig(fetch_chunk=0)
    with pytest.raises(ValueError, match="uint8"):
        GresoConfig(n=300)
    with pytest.raises(ValueError, match="alpha_easy"):
        GresoConfig(alpha_easy=1.5)
