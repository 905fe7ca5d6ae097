"""The simulated learner's dynamics (Eqs. S1-S4 of verl_ext/arena/simulator.py), checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from verl_ext.arena.simulator import SimContext, SimSettings, SimulatedLearner, group_signal, sigmoid
from verl_ext.curriculum.base import Group

TINY = SimSettings(num_prompts=6, heldout=4, levels=2, clusters=2, subsets=3)


def _z(lr: SimulatedLearner, i: int) -> float:
    """z_i of Eq. (S1); held-out prompts (i >= P) have no own term."""
    own = lr.phi[i] if i < lr.num_prompts else 0.0
    return float(lr.base[i] + own + lr.theta[lr.cluster[i]] + lr.gamma)


def test_group_signal_is_the_mean_abs_grpo_advantage():
    # rewards 1,0,1,0: mean 0.5, unbiased std sqrt(1/3); |A| = 0.5 / (sqrt(1/3) + 1e-6) for every response
    expected = 0.5 / (math.sqrt(1.0 / 3.0) + 1e-6)
    assert group_signal(np.array([1.0, 0.0, 1.0, 0.0])) == pytest.approx(expected, rel=1e-12)
    assert group_signal(np.array([1.0, 1.0, 1.0])) == 0.0  # equal rewards: no advantage, no signal
    assert group_signal(np.array([0.0, 0.0])) == 0.0


def test_update_moves_prompt_cluster_and_global_terms_by_hand():
    lr = SimulatedLearner(TINY, seed=3)
    z_before = [_z(lr, i) for i in range(TINY.num_prompts + TINY.heldout)]
    s = 0.5 / (math.sqrt(1.0 / 3.0) + 1e-6)
    total = lr.train([Group("a", 0, rewards=np.array([1.0, 0.0, 1.0, 0.0])), Group("b", 1, rewards=np.ones(4))])
    assert total == pytest.approx(s)
    c0 = lr.cluster[0]
    for i in range(TINY.num_prompts + TINY.heldout):
        own = TINY.eta_prompt * s if i == 0 else 0.0
        cluster = TINY.eta_cluster * s if lr.cluster[i] == c0 else 0.0
        expected = z_before[i] + own + cluster + TINY.eta_global * s
        got = _z(lr, i)
        assert got == pytest.approx(expected, abs=1e-12), i
    # the same prompt trained twice in a step gets both signals
    lr2 = SimulatedLearner(TINY, seed=3)
    lr2.train([Group("a", 0, rewards=np.array([1.0, 0.0])), Group("b", 0, rewards=np.array([0.0, 1.0]))])
    assert lr2.phi[0] == pytest.approx(2 * TINY.eta_prompt * group_signal(np.array([1.0, 0.0])))


def test_heldout_accuracy_moves_by_transfer_only():
    lr = SimulatedLearner(TINY, seed=0)
    p = TINY.num_prompts
    before = lr.heldout_accuracy()
    lr.phi[:] = 50.0  # the training prompts' own progress never reaches held-out prompts
    assert lr.heldout_accuracy() == before
    lr.gamma = 1.0
    expected = float(sigmoid(lr.base[p:] + lr.theta[lr.cluster[p:]] + 1.0).mean())
    assert lr.heldout_accuracy() == pytest.approx(expected) and expected > before


def test_pool_levels_clusters_and_base_logits():
    s = SimSettings(num_prompts=5000, heldout=100, levels=4, clusters=40, sigma_prompt=0.0, sigma_cluster=0.0)
    lr = SimulatedLearner(s, seed=1)
    assert np.array_equal(lr.level, lr.cluster % 4)
    assert np.allclose(lr.base, s.a0 - s.delta * lr.level)  # no noise: b = a_l
    assert set(np.unique(lr.subset)) == {1, 2, 3} | set(range(4, s.subsets + 1))
    again = SimulatedLearner(s, seed=1)
    assert np.array_equal(again.base, lr.base) and not np.array_equal(SimulatedLearner(s, seed=2).cluster, lr.cluster)


def test_context_rewards_follow_the_learner_and_score_is_the_noisy_oracle():
    lr = SimulatedLearner(TINY, seed=0)
    ctx = SimContext(lr, seed=0)
    lr.phi[:] = -60.0
    assert [g.successes for g in ctx.generate(np.arange(6), 8)] == [0] * 6
    lr.phi[:] = 60.0  # no refresh needed: the context reads p(t) live
    assert [g.successes for g in ctx.generate(np.arange(6), 8)] == [8] * 6
    lr.phi[:] = 0.0
    v = ctx.score(np.array([0, 3]))
    expected = sigmoid(np.array([_z(lr, 0) + lr.value_noise[0], _z(lr, 3) + lr.value_noise[3]]))
    assert np.allclose(v, expected) and ctx.scored == {0: v[0], 3: v[1]}
    ctx.new_step()
    assert ctx.scored == {} and ctx.gen_seconds == 0.0


def test_settings_refuse_bad_values():
    with pytest.raises(ValueError, match="clusters"):
        SimSettings(levels=8, clusters=4)
    with pytest.raises(ValueError, match="eta_prompt"):
        SimSettings(eta_prompt=-1.0)
