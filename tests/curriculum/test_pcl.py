"""PCL pure helpers and curriculum (docs/pcl.md §3, §5, §12)."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from verl_ext.curriculum.base import Group, build_curriculum
from verl_ext.curriculum.pcl import (
    PclConfig,
    PclCurriculum,
    diagnostic_ev,
    explained_variance,
    mse_loss,
    select_closest,
    value_targets,
)
from verl_ext.curriculum.testing import FakeRolloutContext, run_steps

SPEC_V = np.array([0.875, 0.375, -0.25, 0.625, 0.5, 1.25, 0.375, 0.75])


def test_select_closest_spec_examples() -> None:
    assert select_closest(SPEC_V, 3, 0.5).tolist() == [1, 3, 4]  # spec order {4, 1, 3}
    assert select_closest(SPEC_V, 7, 0.5).tolist() == [0, 1, 2, 3, 4, 6, 7]  # 2 and 5 tie (0.75); 2 is earlier
    assert select_closest(SPEC_V, 0, 0.5).tolist() == []


def test_select_closest_ranks_the_raw_value_not_the_clipped_one() -> None:
    """Algorithm 1 line 4 ranks |V(x) − τ|; at τ = 0.1 clipping would change the kept set."""
    v = np.array([-0.3, 0.25, 0.6, 1.4, -0.05, 0.12])
    tau = 0.1
    raw = select_closest(v, 3, tau)
    clipped_rank = np.sort(np.argsort(np.abs(np.clip(v, 0, 1) - tau), kind="stable")[:3])
    assert raw.tolist() == [1, 4, 5]  # distances 0.15, 0.15, 0.02
    assert clipped_rank.tolist() == [0, 4, 5]  # -0.3 would count as 0 (0.1 away) and push out 0.25
    assert raw.tolist() != clipped_rank.tolist()
    # ties on the raw distance go to the earlier candidate: 0.75 and 0.25 are both 0.25 from τ = 0.5
    assert select_closest(np.array([0.0, 0.75, 0.25, 1.0]), 1, 0.5).tolist() == [1]


def _brute_force(values: np.ndarray, m: int, tau: float) -> list[int]:
    dev = np.abs(values - tau)
    best = min(dev[list(c)].sum() for c in itertools.combinations(range(values.size), m))
    # among optimal subsets, the stable-order one: lexicographically smallest by (deviation rank, position)
    rank = sorted(range(values.size), key=lambda i: (dev[i], i))
    stable = sorted(rank[:m])
    assert dev[stable].sum() == pytest.approx(best)
    return stable


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([-0.5, 0.0, 0.125, 0.25, 0.5, 0.75, 1.0, 1.5]) | st.floats(-1, 2), min_size=1, max_size=8),
    st.data(),
    st.sampled_from([0.0, 0.25, 0.5, 1.0]),
)
def test_select_closest_vs_brute_force(vals: list[float], data: st.DataObject, tau: float) -> None:
    v = np.array(vals)
    m = data.draw(st.integers(0, v.size))
    got = select_closest(v, m, tau)
    dev = np.abs(v - tau)
    best = min(dev[list(c)].sum() for c in itertools.combinations(range(v.size), m)) if m else 0.0
    assert dev[got].sum() == pytest.approx(best)
    assert got.tolist() == sorted(set(got.tolist()))
    assert got.tolist() == _brute_force(v, m, tau)


def test_select_closest_errors() -> None:
    with pytest.raises(ValueError, match="candidate multiplier"):
        select_closest(np.zeros(3), 4, 0.5)
    with pytest.raises(ValueError, match="NaN"):
        select_closest(np.array([np.nan, 0.2]), 1, 0.5)


def test_loss_and_explained_variance() -> None:
    assert mse_loss(np.array([0.2, 0.9, 0.5]), np.array([0.25, 0.5, 0.5])) == pytest.approx(0.0541667, abs=1e-7)
    assert explained_variance(np.array([0, 0.5, 1, 0.25]), np.array([0.1, 0.4, 0.8, 0.3])) == pytest.approx(0.896)
    assert np.isnan(explained_variance(np.full(4, 0.5), np.array([0.1, 0.4, 0.8, 0.3])))


def test_value_targets_pools_by_index() -> None:
    groups = [
        Group("a", 7, np.array([1.0, 0.0, 1.0, 1.0])),
        Group("b", 2, np.array([0.0, 0.0])),
        Group("c", 7, np.array([0.0, 0.0, 0.0, 0.0])),
        Group("d", 4),  # submitted, no rewards yet: skipped
    ]
    idx, y = value_targets(groups)
    assert idx.tolist() == [2, 7]
    np.testing.assert_allclose(y, [0.0, 3 / 8])


def _value_fn(num: int):
    table = np.random.default_rng(11).uniform(-0.2, 1.2, num)
    return lambda idx: table[idx]


def test_pcl_step_selects_from_candidates() -> None:
    cur = build_curriculum("pcl", {"batch_size": 4, "n": 8, "k": 3, "tau": 0.5, "seed": 2}, 60)
    assert isinstance(cur, PclCurriculum)
    vf = _value_fn(60)
    ctx = FakeRolloutContext(np.full(60, 0.5), seed=0, value_fn=vf)
    metrics = cur.run_step(ctx)
    ((method, idx, n),) = ctx.record.calls
    assert method == "submit" and np.all(n == 8) and idx.size == 4
    # what was trained is the closest-to-τ 4 of the first 12 permutation entries
    rng = np.random.default_rng(2)
    cand = rng.permutation(60)[:12]
    assert idx.tolist() == cand[select_closest(vf(cand), 4, 0.5)].tolist()
    assert metrics["pcl/candidates"] == 12
    assert metrics["pcl/select/abs_dev"] <= np.mean(np.abs(vf(cand) - 0.5))
    obs = cur.observe(ctx.committed_with_rewards())
    assert "pcl/value/mse" in obs and not any(k.startswith("curriculum/") for k in obs)


def test_pcl_pending_is_used_then_cleared() -> None:
    cur = PclCurriculum(PclConfig(batch_size=4, n=4, k=2), 40)
    ctx = FakeRolloutContext(np.full(40, 0.3), seed=0, value_fn=_value_fn(40))
    cur.select_next(ctx)
    pending = cur.pending.copy()
    assert ctx.record.calls == []  # selection does not generate
    cur.run_step(ctx)
    assert ctx.record.calls[0][1].tolist() == pending.tolist() and cur.pending is None


def test_pcl_pass_end_drops_remainder() -> None:
    cur = PclCurriculum(PclConfig(batch_size=3, n=4, k=2), 10)  # 6 candidates/step: 4 left after step 1
    out = run_steps(cur, FakeRolloutContext(np.full(10, 0.5), seed=0, value_fn=_value_fn(10)), 2)
    assert cur.sampler.dropped_at_pass_end == 4 and cur.sampler.data_epoch == 1
    assert all(np.unique(i).size == 3 for i, _ in out)


def test_pcl_state_resume_with_pending() -> None:
    vf = _value_fn(200)
    params = {"batch_size": 8, "n": 4, "k": 4, "seed": 5}
    a = build_curriculum("pcl", params, 200)
    ctx = FakeRolloutContext(np.full(200, 0.5), seed=0, value_fn=vf)
    run_steps(a, ctx, 4, after_observe=lambda: a.select_next(ctx))
    assert a.pending is not None
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = build_curriculum("pcl", params, 200)
    b.load_state_dict(torch.load(buf, weights_only=False))
    assert b.pending.tolist() == a.pending.tolist()
    ca = FakeRolloutContext(np.full(200, 0.5), seed=1, value_fn=vf)
    cb = FakeRolloutContext(np.full(200, 0.5), seed=1, value_fn=vf)
    out_a = run_steps(a, ca, 100, after_observe=lambda: a.select_next(ca))
    out_b = run_steps(b, cb, 100, after_observe=lambda: b.select_next(cb))
    for (ia, na), (ib, nb) in zip(out_a, out_b, strict=True):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(na, nb)


def test_pcl_selection_records_audit_every_pick() -> None:
    vf = _value_fn(80)
    cur = PclCurriculum(PclConfig(batch_size=4, n=4, k=3, seed=4), 80)
    ctx = FakeRolloutContext(np.full(80, 0.5), seed=0, value_fn=vf)
    out = run_steps(cur, ctx, 3, after_observe=lambda: cur.select_next(ctx))
    assert [r["step"] for r in cur.selections] == [1, 2, 3, None]  # the last one is pending
    for (trained, _), record in zip(out, cur.selections, strict=False):
        assert record["candidates"].size == 12 and np.unique(record["candidates"]).size == 12
        np.testing.assert_array_equal(record["scores"], vf(record["candidates"]))
        np.testing.assert_array_equal(record["kept"], select_closest(record["scores"], 4, 0.5))
        np.testing.assert_array_equal(record["candidates"][record["kept"]], trained)
    assert cur.record_value_step(2, np.array([5, 9]), np.array([0.25, 1.0]))["targets"].tolist() == [0.25, 1.0]
    assert cur.record_value_step(7, np.array([1]), np.array([0.0])) is None
    restored = PclCurriculum(PclConfig(batch_size=4, n=4, k=3, seed=4), 80)
    restored.load_state_dict(cur.state_dict())
    assert [r["step"] for r in restored.selections] == [1, 2, 3, None]
    np.testing.assert_array_equal(restored.selections[1]["trained"], [5, 9])
    restored.run_step(ctx)  # the resumed pending pick is stamped with the step that trains it
    assert restored.selections[-1]["step"] == ctx.step


@pytest.mark.parametrize(("params", "fix"), [({"k": 0}, "curriculum.k"), ({"tau": 1.5}, "curriculum.tau")])
def test_pcl_config_errors(params: dict, fix: str) -> None:
    with pytest.raises(ValueError, match=fix):
        PclConfig(**params)
    with pytest.raises(ValueError, match="curriculum.k"):
        PclCurriculum(PclConfig(batch_size=10, k=4), 30)


def test_pcl_needs_a_value_model() -> None:
    cur = PclCurriculum(PclConfig(batch_size=2, n=4), 10)
    with pytest.raises(NotImplementedError, match="value_fn"):
        cur.run_step(FakeRolloutContext(np.full(10, 0.5), seed=0))


def test_diagnostic_ev_by_hand() -> None:
    values = np.array([0.2, 0.6, 0.9])
    rewards = np.array([[0, 0, 1, 0], [1, 0, 1, 1], [1, 1, 1, 1]], dtype=float)
    out = diagnostic_ev(values, rewards, (1, 2))
    p = np.array([0.25, 0.75, 1.0])  # 4-response means
    var_p = np.var(p)  # ddof 0
    assert out["pcl/diag/ev"] == pytest.approx(1 - np.var(p - values) / var_p)
    assert out["pcl/diag/ev_rollouts_1"] == pytest.approx(1 - np.var(p - np.array([0.0, 1.0, 1.0])) / var_p)
    assert out["pcl/diag/ev_rollouts_2"] == pytest.approx(1 - np.var(p - np.array([0.0, 0.5, 1.0])) / var_p)
    # Var(p) = 0: EV undefined, left out rather than logged as NaN
    assert diagnostic_ev(values, np.ones((3, 4)), (1,)) == {}
    with pytest.raises(ValueError, match="ev_rollouts_8"):
        diagnostic_ev(values, rewards, (8,))


def test_pcl_diagnostic_is_off_the_training_path() -> None:
    """diag_every=2: before steps 3 and 5, 20 random prompts x 8 responses are scored, generated and released;
    what is trained and the checkpointed pass are exactly those of the run without the diagnostic."""
    rates = np.random.default_rng(5).uniform(0, 1, 60)
    params = {"batch_size": 4, "n": 4, "k": 2, "seed": 3}
    plain = build_curriculum("pcl", params, 60)
    diag = build_curriculum("pcl", {**params, "diag_every": 2, "diag_prompts": 20, "diag_n": 8}, 60)
    ctx_plain = FakeRolloutContext(rates, seed=0, value_fn=_value_fn(60))
    ctx_diag = FakeRolloutContext(rates, seed=0, value_fn=_value_fn(60))
    metrics = []
    for _ in range(5):
        plain.run_step(ctx_plain)
        metrics.append(diag.run_step(ctx_diag))
        assert [c[1].tolist() for c in ctx_diag.record.calls if c[0] == "submit"] == [
            c[1].tolist() for c in ctx_plain.record.calls
        ]
        plain.observe(ctx_plain.committed_with_rewards())
        diag.observe(ctx_diag.committed_with_rewards())
        if ctx_diag.step in (3, 5):
            ((method, idx, n), _) = ctx_diag.record.calls
            assert method == "generate" and idx.size == 20 and np.unique(idx).size == 20 and np.all(n == 8)
            assert len(ctx_diag.record.released) == 20
        else:
            assert len(ctx_diag.record.calls) == 1
        ctx_plain.new_step()
        ctx_diag.new_step()
    assert [("pcl/diag/ev_rollouts_8" in m) for m in metrics] == [False, False, True, False, True]
    assert metrics[2]["pcl/diag/responses"] == 160.0
    state = diag.state_dict()
    assert state["sampler"]["perm"].tolist() == plain.state_dict()["sampler"]["perm"].tolist()
    again = build_curriculum("pcl", {**params, "diag_every": 2, "diag_prompts": 20, "diag_n": 8}, 60)
    again.load_state_dict(state)
    assert again.diag_rng.integers(1 << 30) == diag.diag_rng.integers(1 << 30)


def test_pcl_diagnostic_config_errors() -> None:
    with pytest.raises(ValueError, match="diag_n=4 >= 8"):
        PclConfig(diag_every=8, diag_n=4)


def test_calibration_of_the_values_used_at_selection_is_the_trainers() -> None:
    from verl_ext.curriculum.observability import calibration

    cur = PclCurriculum(PclConfig(batch_size=2, n=4, seed=0, k=2), 8)
    ctx = FakeRolloutContext(np.ones(8), seed=0, value_fn=lambda idx: np.full(idx.size, 0.3))
    cur.run_step(ctx)
    trained = ctx.committed_with_rewards()
    idx = np.array([g.index for g in trained])
    pred = cur.predicted_success(idx)
    metrics = cur.observe(trained)
    assert not any(k.startswith("pcl/calib/") for k in metrics)  # one owner: the trainer's curriculum/calib/*
    out = calibration(pred, np.ones(idx.size), np.full(idx.size, 4.0))
    assert out["bias"] == pytest.approx(0.3 - 1.0) and out["brier"] == pytest.approx(0.7**2)
