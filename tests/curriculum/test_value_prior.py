"""PCL's value model as a prior of the Beta estimators (docs/value_prior.md): maths, posterior, the three strategies.

Hand-computed numbers throughout; the value model is a deterministic ``value_fn`` of FakeRolloutContext.
"""

from __future__ import annotations

import numpy as np
import pytest

from verl_ext.curriculum import build_curriculum
from verl_ext.curriculum.cures import BetaPosterior
from verl_ext.curriculum.cures_algorithm1 import CuresAlgorithm1Curriculum
from verl_ext.curriculum.cures_online import CuresOnlineCurriculum
from verl_ext.curriculum.mopps import MoPPSCurriculum
from verl_ext.curriculum.testing import FakeRolloutContext, roundtrip_state, run_steps, run_with_metrics
from verl_ext.curriculum.uniform import UniformCurriculum
from verl_ext.curriculum.value_prior import (
    PriorBetaPosterior,
    PriorConfig,
    check_value_model_use,
    prior_pseudo_counts,
)

P = 12
RATES = np.linspace(0.1, 0.9, P)
VALUE_PRIOR = {"source": "value_model", "strength": 2.0, "eps": 0.01}


def _v(idx: np.ndarray) -> np.ndarray:
    """A deterministic stand-in for V(x): -0.2, 0.1, 0.4, 0.7, 1.0, 1.3 repeating (two clip on each side)."""
    return -0.2 + 0.3 * (np.asarray(idx) % 6)


class CountingValue:
    """``_v`` that records every call's indices."""

    def __init__(self) -> None:
        self.calls: list[np.ndarray] = []

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        self.calls.append(np.asarray(idx).copy())
        return _v(idx)


def _expected_prior(idx: np.ndarray, c: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    p = np.clip(_v(idx), 0.01, 0.99)
    return c * p, c * (1 - p)


# ------------------------------------------------------------------ the maths
def test_pseudo_counts_by_hand() -> None:
    a0, b0 = prior_pseudo_counts(np.array([0.25, 1.3, -0.2, 0.5]), strength=2.0, eps=0.01)
    np.testing.assert_allclose(a0, [0.5, 1.98, 0.02, 1.0])
    np.testing.assert_allclose(b0, [1.5, 0.02, 1.98, 1.0])
    a0, b0 = prior_pseudo_counts(np.array([0.3]), strength=10.0, eps=0.1)
    np.testing.assert_allclose((a0, b0), ([3.0], [7.0]))


@pytest.mark.parametrize(
    ("values", "strength", "eps", "match"),
    [(np.array([np.nan]), 2.0, 0.01, "non-finite"), (np.ones(1), 0.0, 0.01, "strength"), (np.ones(1), 2.0, 0.5, "eps")],
)
def test_pseudo_counts_refuse_bad_input(values, strength, eps, match) -> None:
    with pytest.raises(ValueError, match=match):
        prior_pseudo_counts(values, strength, eps)


@pytest.mark.parametrize(
    ("node", "match"),
    [
        ({"source": "pilot"}, r"prior.source='pilot' is invalid here; valid: \('none', 'value_model'\)"),
        ({"source": "value_model", "weight": 3}, r"no key\(s\) \['weight'\]"),
        ({"source": "value_model", "strength": -1}, "strength must be a number > 0"),
        ({"source": "value_model", "eps": 0.7}, "eps must lie in"),
    ],
)
def test_prior_node_is_checked(node, match) -> None:
    with pytest.raises(ValueError, match=match):
        PriorConfig.parse(node, ("none", "value_model"), "none")


def test_posterior_keeps_observed_counts_on_top_of_the_prior() -> None:
    post = PriorBetaPosterior(4, 1.0, 1.0, forget=0.5)
    post.update(np.array([0]), np.array([3]), np.array([4]))  # Beta(1 + 3, 1 + 1) before any prior
    post.set_prior(np.array([0, 1]), np.array([0.4, 1.5]), np.array([1.6, 0.5]))
    np.testing.assert_allclose(post.alpha[:3], [0.4 + 3, 1.5, 1.0])
    np.testing.assert_allclose(post.beta[:3], [1.6 + 1, 0.5, 1.0])
    np.testing.assert_allclose(post.evidence()[:3], [4.0, 0.0, 0.0])
    # λ = 0.5 shrinks evidence toward the prompt's own prior: α = 0.4 + 0.5·3 + 1, β = 1.6 + 0.5·1 + 1
    post.update(np.array([0, 1]), np.array([1, 2]), np.array([2, 2]))
    np.testing.assert_allclose(post.alpha[:2], [0.4 + 1.5 + 1, 1.5 + 2])
    np.testing.assert_allclose(post.beta[:2], [1.6 + 0.5 + 1, 0.5])
    post.reset()
    assert not post.has_prior.any() and np.all(post.alpha == 1.0) and np.all(post.prior_beta == 1.0)


def test_posterior_state_round_trip_and_refusal() -> None:
    post = PriorBetaPosterior(3)
    post.set_prior(np.array([2]), np.array([0.2]), np.array([1.8]))
    post.update(np.array([2]), np.array([1]), np.array([3]))
    again = PriorBetaPosterior(3)
    again.load_state_dict(roundtrip_state(post.state_dict(), "torch"))
    for key in ("alpha", "beta", "prior_alpha", "prior_beta", "has_prior", "visits"):
        np.testing.assert_array_equal(getattr(again, key), getattr(post, key))
    with pytest.raises(ValueError, match="no value-model prior"):
        again.load_state_dict(BetaPosterior(3).state_dict())


# ------------------------------------------------------------------ defaults are today's behaviour
@pytest.mark.parametrize(
    ("name", "params"),
    [("cures_online", {}), ("cures_algorithm1", {"sigma": "bernoulli", "num_subsets": 2}), ("mopps", {})],
)
def test_default_prior_is_todays_estimator(name, params) -> None:
    cur = build_curriculum(name, {"batch_size": 4, "n": 4, "seed": 1, **params}, P)
    assert type(cur.posterior) is BetaPosterior
    assert "prior_alpha" not in cur.state_dict()["posterior"]
    metrics = run_with_metrics(cur, FakeRolloutContext(RATES, seed=0), 2)
    assert not [k for m in metrics for k in m if "/prior/" in k]


# ------------------------------------------------------------------ cures_algorithm1
def _algorithm1(**prior) -> CuresAlgorithm1Curriculum:
    params = {"batch_size": 4, "n": 4, "seed": 1, "sigma": "bernoulli", "num_subsets": 2, "steps_per_subset": 2}
    cur = build_curriculum("cures_algorithm1", {**params, "prior": {**VALUE_PRIOR, **prior}}, P)
    assert isinstance(cur, CuresAlgorithm1Curriculum)
    return cur


def test_algorithm1_value_prior_replaces_the_pilot() -> None:
    cur, value = _algorithm1(), CountingValue()
    ctx = FakeRolloutContext(RATES, seed=0, value_fn=value)
    m1 = cur.run_step(ctx)
    # no pilot rollouts at all: one submit of exactly N = m·n = 16 responses
    assert [c[0] for c in ctx.record.calls] == ["submit"] and ctx.responses == 16 and not ctx.released
    assert m1["cures/pilot"] == 0.0 and m1["cures/prior/prompts"] == 6.0
    np.testing.assert_array_equal(value.calls[0], np.arange(6))  # subset 1 = prompts 0..5, scored once
    a0, b0 = _expected_prior(
        np.arange(6)
    )  # V = -0.2, 0.1, 0.4, 0.7, 1.0, 1.3 → clip → (0.01, 0.1, 0.4, 0.7, 0.99, 0.99)
    np.testing.assert_allclose(a0, [0.02, 0.2, 0.8, 1.4, 1.98, 1.98])
    np.testing.assert_allclose(cur.posterior.alpha[:6], a0)
    np.testing.assert_allclose(cur.posterior.beta[:6], b0)
    assert m1["cures/prior/v_mean"] == pytest.approx(np.mean(_v(np.arange(6))))
    assert m1["cures/prior/v_clipped"] == pytest.approx(3 / 6)
    assert m1["cures/evidence_subset"] == pytest.approx(0.0)
    trained = ctx.committed_with_rewards()
    cur.observe(trained, ())
    for g in trained:  # Eq. 23 counts on top of the prior
        assert cur.posterior.alpha[g.index] == pytest.approx(a0[g.index] + g.successes)
        assert cur.posterior.beta[g.index] == pytest.approx(b0[g.index] + g.n - g.successes)
    ctx.new_step()
    m2 = cur.run_step(ctx)
    assert m2["cures/prior/prompts"] == 0.0 and len(value.calls) == 1  # same subset: nothing scored again
    cur.observe(ctx.committed_with_rewards(), ())
    ctx.new_step()
    m3 = cur.run_step(ctx)  # subset 2: reset, prompts 6..11 scored, still no pilot
    assert m3["cures/prior/prompts"] == 6.0 and ctx.responses == 16
    np.testing.assert_array_equal(value.calls[1], np.arange(6, 12))
    assert not cur.posterior.has_prior[:6].any() and cur.posterior.has_prior[6:].all()
    assert m3["cures/evidence_other"] == pytest.approx(0.0)


def test_algorithm1_none_resets_without_pilot_or_scores() -> None:
    cur = _algorithm1(source="none")
    ctx = FakeRolloutContext(RATES, seed=0)  # no value_fn: score would raise
    metrics = run_with_metrics(cur, ctx, 3)
    assert [h.responses for h in ctx.history[:3]] == [16, 16, 16]
    assert metrics[2]["cures/prior/prompts"] == 0.0 and metrics[2]["cures/evidence_other"] == 0.0


@pytest.mark.parametrize(
    ("params", "match"),
    [({"sigma": "gradnorm"}, "sigma='gradnorm'"), ({"train_on_pilot": True}, "train_on_pilot=True")],
)
def test_algorithm1_refuses_pilot_settings_without_pilot(params, match) -> None:
    base = {"batch_size": 4, "n": 4, "seed": 1, "sigma": "bernoulli", "prior": VALUE_PRIOR}
    with pytest.raises(ValueError, match=match):
        build_curriculum("cures_algorithm1", {**base, **params}, P)


def test_algorithm1_prior_seeded_counts_survive_a_checkpoint() -> None:
    cur = _algorithm1()
    run_steps(cur, FakeRolloutContext(RATES, seed=1, value_fn=_v), 1)
    state = roundtrip_state(cur.state_dict(), "torch")
    resumed = _algorithm1()
    resumed.load_state_dict(state)
    np.testing.assert_array_equal(resumed.posterior.prior_alpha, cur.posterior.prior_alpha)
    np.testing.assert_array_equal(resumed.posterior.alpha, cur.posterior.alpha)
    value = CountingValue()  # a resume inside the subset scores nothing again
    ahead = run_steps(cur, FakeRolloutContext(RATES, seed=2, value_fn=_v, start_step=2), 3)
    again = run_steps(resumed, FakeRolloutContext(RATES, seed=2, value_fn=value, start_step=2), 3)
    for (i1, n1), (i2, n2) in zip(ahead, again, strict=True):
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(n1, n2)
    assert [c.tolist() for c in value.calls] == [list(range(6, 12))]  # only subset 2's start
    with pytest.raises(ValueError, match="other settings"):  # the prior is part of what the checkpoint means
        _algorithm1(strength=4.0).load_state_dict(state)


# ------------------------------------------------------------------ cures_online
def _online(**params) -> CuresOnlineCurriculum:
    base = {"batch_size": 4, "n": 4, "seed": 1, "cold_start": "prior", "prior": VALUE_PRIOR}
    cur = build_curriculum("cures_online", {**base, **params}, P)
    assert isinstance(cur, CuresOnlineCurriculum)
    return cur


def test_online_prompts_get_their_prior_when_first_drawn() -> None:
    cur, value = _online(), CountingValue()
    ctx = FakeRolloutContext(RATES, seed=0, value_fn=value)
    m1 = cur.run_step(ctx)
    drawn = ctx.record.calls[0][1]
    np.testing.assert_array_equal(value.calls[0], np.sort(drawn))  # exactly this step's draws, scored once
    assert m1["cures/prior/prompts"] == 4.0 and ctx.responses == 16
    a0, b0 = _expected_prior(drawn)
    np.testing.assert_allclose(cur.posterior.alpha[drawn], a0)
    np.testing.assert_allclose(cur.posterior.beta[drawn], b0)
    # the ρ* weight of a drawn prompt already uses its prior mean (Eq. 14 on p̂ = clip(V))
    p = np.clip(_v(drawn), 0.01, 0.99)
    np.testing.assert_allclose(cur.tree.leaves[drawn], np.exp((np.sqrt(p * (1 - p)) - 0.5) / 0.1))
    trained = ctx.committed_with_rewards()
    cur.observe(trained, ())
    for g in trained:
        assert cur.posterior.alpha[g.index] == pytest.approx(a0[list(drawn).index(g.index)] + g.successes)
    ctx.new_step()
    for _ in range(4):  # later steps score only prompts never drawn before
        before = cur.posterior.has_prior.copy()
        cur.run_step(ctx)
        idx = ctx.record.calls[0][1]
        fresh = np.sort(idx[~before[idx]])
        if fresh.size:
            np.testing.assert_array_equal(value.calls[-1], fresh)
        cur.observe(ctx.committed_with_rewards(), ())
        ctx.new_step()
    assert sum(c.size for c in value.calls) == int(cur.posterior.has_prior.sum())


def test_online_value_prior_needs_cold_start_prior() -> None:
    with pytest.raises(ValueError, match="cold_start=prior"):
        _online(cold_start="pilot")


def test_online_state_round_trip() -> None:
    cur = _online()
    run_steps(cur, FakeRolloutContext(RATES, seed=1, value_fn=_v), 2)
    resumed = _online()
    resumed.load_state_dict(roundtrip_state(cur.state_dict(), "pickle"))
    np.testing.assert_array_equal(resumed.posterior.has_prior, cur.posterior.has_prior)
    ahead = run_steps(cur, FakeRolloutContext(RATES, seed=2, value_fn=_v, start_step=3), 3)
    again = run_steps(resumed, FakeRolloutContext(RATES, seed=2, value_fn=_v, start_step=3), 3)
    for (i1, n1), (i2, n2) in zip(ahead, again, strict=True):
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(n1, n2)


# ------------------------------------------------------------------ MoPPS
def test_mopps_candidates_get_their_prior_when_first_in_a_pool() -> None:
    value = CountingValue()
    cur = build_curriculum("mopps", {"batch_size": 2, "n": 4, "seed": 1, "ratio": 3, "prior": VALUE_PRIOR}, P)
    assert isinstance(cur, MoPPSCurriculum)
    ctx = FakeRolloutContext(RATES, seed=0, value_fn=value)
    metrics = run_with_metrics(cur, ctx, 3)  # pools of 6: steps 1-2 cover the pass, step 3 starts a new pass
    assert [m["mopps/prior/prompts"] for m in metrics] == [6.0, 6.0, 0.0]
    assert sorted(np.concatenate(value.calls).tolist()) == list(range(P))  # every prompt scored exactly once
    a0, b0 = _expected_prior(np.arange(P))
    np.testing.assert_allclose(cur.posterior.prior_alpha, a0)
    np.testing.assert_allclose(cur.posterior.evidence(), np.bincount(
        np.concatenate([c[1] for h in ctx.history[:3] for c in h.calls]),
        weights=np.concatenate([c[2] for h in ctx.history[:3] for c in h.calls]), minlength=P))  # fmt: skip


# ------------------------------------------------------------------ capability and the pre-Ray check
def test_capability_declares_the_value_extension_only_when_asked() -> None:
    assert MoPPSCurriculum.config_extensions({}) == ()
    assert CuresAlgorithm1Curriculum.config_extensions({"prior": {"source": "pilot"}}) == ()
    (target,) = CuresOnlineCurriculum.config_extensions({"prior": {"source": "value_model"}})
    assert target.endswith(":ValuePriorExtension")


def test_value_model_section_is_checked_against_the_prior() -> None:
    with pytest.raises(ValueError, match=r"\+value_model=pcl"):
        check_value_model_use(MoPPSCurriculum, {"prior": VALUE_PRIOR}, has_value_model=False)
    with pytest.raises(ValueError, match="nothing would use the value model"):
        check_value_model_use(CuresAlgorithm1Curriculum, {}, has_value_model=True)
    check_value_model_use(CuresOnlineCurriculum, {"prior": VALUE_PRIOR}, has_value_model=True)
    check_value_model_use(UniformCurriculum, {}, has_value_model=True)  # not a prior strategy: not its business
