"""SPEED exact and pipelined (docs/methods/speed.md) against the seeded fake rollout context."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from verl_ext.curriculum import GenerationBudgetExceeded, Group
from verl_ext.curriculum.speed import SpeedConfig, SpeedCurriculum
from verl_ext.curriculum.testing import FakeRolloutContext, roundtrip_state, run_with_metrics

M = 16


class CarryFakeContext(FakeRolloutContext):
    """The fake, but commits may include groups generated in earlier steps (the pipelined carry)."""

    def commit(self, groups: Sequence[Group]) -> None:
        handles = [g.handle for g in groups]
        assert self.record.committed is None and len(set(handles)) == len(handles)
        assert not set(handles) & set(self.record.released)
        self.record.committed = handles


_roundtrip = roundtrip_state
_run = run_with_metrics


def _rates(num: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).choice(np.array([0.0, 1.0, 0.5, 0.2]), size=num, p=[0.3, 0.3, 0.2, 0.2])


@pytest.mark.parametrize(("n_init", "n", "k"), [(4, 16, 1), (8, 16, 2), (4, 8, 1)])
def test_exact_trains_m_complete_groups_from_this_step(n_init: int, n: int, k: int) -> None:
    cur = SpeedCurriculum(SpeedConfig(batch_size=M, n=n, n_init=n_init, k=k, seed=4), 500)
    ctx = FakeRolloutContext(_rates(500), seed=1)
    metrics = _run(cur, ctx, 6)
    for rec, met in zip(ctx.history[:-1], metrics):
        assert rec.committed is not None and len(rec.committed) == M
        screened = {}  # index -> handle, screening calls of this step
        for h in rec.generated:
            screened[ctx.group(h).index] = h
        continued = [idx for method, idx, _ in rec.calls if method == "extend"]
        cont_set = set(np.concatenate(continued).tolist()) if continued else set()
        for h in rec.committed:
            g = ctx.group(h)
            assert g.n == n and h in rec.generated and g.index in cont_set  # screened and continued this step
        for method, idx, counts in rec.calls:
            if method == "generate":
                assert set(counts) == {n_init} and idx.size == k * M
            else:
                assert method == "extend" and set(counts) == {n - n_init}
                for i in idx:  # only accepted prompts continued
                    first = ctx.group(screened[int(i)]).rewards[:n_init]
                    assert 0 < (first > 0.5).sum() < n_init
        assert set(rec.committed) | set(rec.released) == set(rec.generated)
        assert not set(rec.committed) & set(rec.released)
        assert met["speed/stale_response_frac"] == 0.0 and met["speed/carry_size"] == 0.0


def test_flush_continues_only_what_is_missing() -> None:
    # k=2 and many informative prompts: the accepted buffer soon exceeds what is missing → flush.
    rates = np.where(np.arange(400) % 2 == 0, 0.5, 1.0)
    cur = SpeedCurriculum(SpeedConfig(batch_size=M, n=16, n_init=8, k=2, seed=2), 400)
    ctx = FakeRolloutContext(rates, seed=3)
    metrics = _run(cur, ctx, 5)
    assert sum(met["speed/flush_rounds"] for met in metrics) >= 1
    for rec, met in zip(ctx.history[:-1], metrics):
        extends = [idx.size for method, idx, _ in rec.calls if method == "extend"]
        if met["speed/flush_rounds"]:
            assert rec.calls[-1][0] == "extend"  # the flush round continues and screens nothing
            done_before = sum(extends[:-1])
            assert extends[-1] <= M - done_before and done_before + extends[-1] == M
        assert met["speed/continued"] == sum(extends)


def test_constant_rewards_raise_after_exactly_R_rounds() -> None:
    cur = SpeedCurriculum(SpeedConfig(batch_size=M, n=8, n_init=4, k=1, max_gen_rounds=5), 200)
    ctx = FakeRolloutContext(np.ones(200), seed=0)
    with pytest.raises(GenerationBudgetExceeded, match=r"step 1 kept only 0/16 .* 5 generation rounds") as err:
        cur.run_step(ctx)
    assert ctx.rounds == 5
    assert f"{5 * M} all-correct" in str(err.value) and "max_gen_rounds" in str(err.value)


def _born(ctx: FakeRolloutContext) -> dict[str, int]:
    return {h: rec.step for rec in ctx.history for h in rec.generated}


def test_pipelined_trains_stale_data_and_drops_over_age_items() -> None:
    cfg = SpeedConfig(batch_size=M, n=16, n_init=8, k=2, mode="pipelined", max_staleness_steps=1, seed=0)
    cur = SpeedCurriculum(cfg, 2000)
    ctx = CarryFakeContext(np.full(2000, 0.5), seed=0)
    metrics = _run(cur, ctx, 4)
    assert metrics[0]["speed/stale_response_frac"] == 0.0
    assert metrics[0]["speed/carry_size"] > 0
    assert metrics[1]["speed/stale_response_frac"] > 0
    assert metrics[2]["speed/stale_dropped"] > 0  # step-1 screening items aged 2 > max_staleness_steps
    born = _born(ctx)
    for rec in ctx.history[:-1]:
        assert len(rec.committed) == M
        assert all(rec.step - born[h] <= 1 for h in rec.committed)
        assert all(ctx.group(h).n == 16 for h in rec.committed)
    # with no staleness allowed the whole carry is dropped and nothing stale is trained
    cur0 = SpeedCurriculum(SpeedConfig(**{**cfg.__dict__, "max_staleness_steps": 0}), 2000)
    ctx0 = CarryFakeContext(np.full(2000, 0.5), seed=0)
    m0 = _run(cur0, ctx0, 3)
    assert all(met["speed/stale_response_frac"] == 0.0 for met in m0)
    assert m0[1]["speed/stale_dropped"] > 0


def test_pipelined_carry_is_not_checkpointed() -> None:
    cfg = SpeedConfig(batch_size=M, n=16, n_init=8, k=2, mode="pipelined", seed=0)
    a = SpeedCurriculum(cfg, 2000)
    _run(a, CarryFakeContext(np.full(2000, 0.5), seed=0), 1)
    carry = a.state_dict()["carry_size"]
    assert carry > 0
    b = SpeedCurriculum(cfg, 2000)
    b.load_state_dict(_roundtrip(a.state_dict(), "torch"))
    ctx = CarryFakeContext(np.full(2000, 0.5), seed=5)
    ctx.step = 2
    met = b.run_step(ctx)
    assert met["speed/carry_dropped_on_resume"] == carry and met["speed/stale_response_frac"] == 0.0
    assert b.run_step(_next(ctx))["speed/carry_dropped_on_resume"] == 0.0


def _next(ctx: FakeRolloutContext) -> FakeRolloutContext:
    ctx.new_step()
    return ctx


def test_state_roundtrip_gives_identical_next_proposals() -> None:
    rates = _rates(400, seed=9)
    cfg = SpeedConfig(batch_size=M, n=8, n_init=4, k=1, seed=21)
    for via in ("pickle", "torch"):
        a = SpeedCurriculum(cfg, 400)
        _run(a, FakeRolloutContext(rates, seed=0), 3)
        b = SpeedCurriculum(SpeedConfig(batch_size=M, n=8, n_init=4, k=1, seed=0), 400)
        b.load_state_dict(_roundtrip(a.state_dict(), via))
        ctx_a, ctx_b = FakeRolloutContext(rates, seed=4), FakeRolloutContext(rates, seed=4)
        _run(a, ctx_a, 5)
        _run(b, ctx_b, 5)
        calls_a = [(m, idx.tolist()) for rec in ctx_a.history for m, idx, _ in rec.calls]
        calls_b = [(m, idx.tolist()) for rec in ctx_b.history for m, idx, _ in rec.calls]
        assert sum(len(i) for _, i in calls_a) >= 100 and calls_a == calls_b
        commits_a = [[ctx_a.group(h).index for h in r.committed] for r in ctx_a.history[:-1]]
        assert commits_a == [[ctx_b.group(h).index for h in r.committed] for r in ctx_b.history[:-1]]


def test_bad_hyper_parameters_name_the_fix() -> None:
    with pytest.raises(ValueError, match="n_init < n"):
        SpeedConfig(n=8, n_init=8)
    with pytest.raises(ValueError, match="n_init < n"):
        SpeedConfig(n=8, n_init=0)
    with pytest.raises(ValueError, match="curriculum.mode must be one of"):
        SpeedConfig(mode="fast")
    with pytest.raises(ValueError, match="curriculum.k"):
        SpeedConfig(k=0)
    with pytest.raises(ValueError, match="max_staleness_steps"):
        SpeedConfig(max_staleness_steps=-1)
    with pytest.raises(ValueError, match=r"k·m screened = 256 distinct prompts per step but the pool has 100"):
        SpeedCurriculum(SpeedConfig(batch_size=64, k=4), 100)


@pytest.mark.parametrize("mode", ["exact", "pipelined"])
def test_screening_and_continuation_share_one_wave(mode: str) -> None:
    """Each round is one generation wave (screening + continuation dispatched together), not two."""
    cfg = SpeedConfig(batch_size=M, n=16, n_init=4, k=1, mode=mode, seed=4)
    ctx = (CarryFakeContext if mode == "pipelined" else FakeRolloutContext)(_rates(2000), seed=1)
    metrics = _run(SpeedCurriculum(cfg, 2000), ctx, 6)
    fused = 0
    for rec, met in zip(ctx.history[:-1], metrics):
        methods = [method for method, _, _ in rec.calls]
        # a round is one wave whatever it dispatches: screening, continuation, or both
        assert rec.waves == met["speed/rounds"]
        # every extend except a flush round's rode in the same wave as a screening call
        fused += methods.count("extend") - int(met["speed/flush_rounds"])
        assert rec.waves == len(methods) - (methods.count("extend") - int(met["speed/flush_rounds"]))
    before = sum(len(rec.calls) for rec in ctx.history[:-1])  # one wave per call when issued one after another
    after = sum(rec.waves for rec in ctx.history[:-1])
    assert fused > 0 and after == before - fused < before
