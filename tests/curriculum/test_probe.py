"""Probe (threshold-downsampling) selector (docs/methods/probe.md)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from verl_ext.curriculum.base import build_curriculum
from verl_ext.curriculum.pcl import select_closest
from verl_ext.curriculum.probe import ProbeConfig, ProbeCurriculum
from verl_ext.curriculum.testing import FakeRolloutContext, run_steps


def test_probe_step_probes_selects_releases_and_trains_fresh() -> None:
    rates = np.linspace(0, 1, 80)
    cur = build_curriculum("probe", {"batch_size": 5, "n": 6, "k": 4, "probe_n": 4, "tau_p": 0.5}, 80)
    ctx = FakeRolloutContext(rates, seed=0)
    metrics = cur.run_step(ctx)
    (m1, cand, n1), (m2, kept, n2) = ctx.record.calls
    assert (m1, m2) == ("generate", "submit") and cand.size == 20 and np.all(n1 == 4) and np.all(n2 == 6)
    probes = [ctx.group(h) for h in ctx.record.generated[:20]]
    p_hat = np.array([g.rewards.mean() for g in probes])
    assert kept.tolist() == cand[select_closest(p_hat, 5, 0.5)].tolist()
    assert metrics["probe/reward_before"] == pytest.approx(p_hat.mean())
    # probes released, never committed; committed = the 5 fresh groups
    assert set(ctx.released) == set(ctx.record.generated[:20])
    assert set(ctx.committed) == set(ctx.record.generated[20:]) and len(ctx.committed) == 5
    assert ctx.record.responses == 20 * 4 + 5 * 6
    assert cur.observe(ctx.committed_with_rewards(), ctx.screened_with_rewards()) == {}  # the trainer logs the rest


def test_probe_targets_zero_picks_hard_prompts() -> None:
    rates = np.where(np.arange(100) % 2 == 0, 0.0, 1.0)
    cur = ProbeCurriculum(ProbeConfig(batch_size=5, n=4, tau_p=0.0), 100)
    out = run_steps(cur, FakeRolloutContext(rates, seed=0), 3)
    assert all(np.all(idx % 2 == 0) for idx, _ in out)


def test_probe_state_resume() -> None:
    rates = np.random.default_rng(0).random(120)
    params = {"batch_size": 6, "n": 4, "k": 3, "seed": 4}
    a = build_curriculum("probe", params, 120)
    run_steps(a, FakeRolloutContext(rates, seed=0), 4)
    b = build_curriculum("probe", params, 120)
    b.load_state_dict(pickle.loads(pickle.dumps(a.state_dict())))
    out_a = run_steps(a, FakeRolloutContext(rates, seed=2), 100)
    out_b = run_steps(b, FakeRolloutContext(rates, seed=2), 100)
    for (ia, na), (ib, nb) in zip(out_a, out_b, strict=True):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(na, nb)


@pytest.mark.parametrize(
    ("params", "fix"),
    [
        ({"k": 0}, "curriculum.k"),
        ({"probe_n": 0}, "probe_n"),
        ({"tau_p": -1.0}, "tau_p"),
        ({"max_gen_rounds": 1}, "max_gen_rounds"),
    ],
)
def test_probe_config_errors(params: dict, fix: str) -> None:
    with pytest.raises(ValueError, match=fix):
        ProbeConfig(**params)
