"""Composable curricula (estimator × score × allocator): presets equal the named strategies, config errors, parts.

The preset tests run the named strategy and ``composed`` with :func:`preset_params` of the same options on identical
fake contexts for many steps (several passes over the pool) and require the same prompts, in the same order, with the
same n_i at every step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from verl_ext.curriculum import build_curriculum
from verl_ext.curriculum.compose import PRESETS, ComposedCurriculum, preset_params
from verl_ext.curriculum.cures import allocate_with_floors
from verl_ext.curriculum.parts.allocators import knapsack_categories, knapsack_counts
from verl_ext.curriculum.parts.estimators import Estimate
from verl_ext.curriculum.parts.scores import distance_score, group_informative, knapsack_value
from verl_ext.curriculum.parts.select import select_topk_score
from verl_ext.curriculum.testing import FakeRolloutContext, roundtrip_state, run_steps

P, M, N, STEPS = 200, 8, 8, 60
RATES = np.random.default_rng(5).uniform(0.0, 1.0, P)

CASES: list[tuple[str, dict[str, Any]]] = [
    ("mopps", {}),
    ("mopps", {"selection": "threshold", "decay": 0.8}),
    ("mopps", {"ratio": 4, "target": 0.3, "alpha0": 2.0}),
    ("knapsack", {}),
    ("knapsack", {"decay": 0.9, "min_history": 2, "n_max": 16}),
    ("cures_online", {}),
    ("cures_online", {"sampling": False}),
    ("cures_online", {"allocation": False}),
    ("cures_online", {"cold_start": "prior", "forget": 0.9, "tau": 0.3, "n_max": 12}),
    ("pcl", {}),
    ("pcl", {"k": 2, "tau": 0.3}),
    ("probe", {}),
    ("probe", {"k": 2, "probe_n": 6, "tau_p": 0.4}),
    ("mopps", {"prior": {"source": "value_model", "strength": 3.0}, "decay": 0.9}),  # PCL's V as the Beta prior
    ("cures_online", {"prior": {"source": "value_model"}, "cold_start": "prior"}),
]


def _ctx(seed: int = 3) -> FakeRolloutContext:
    return FakeRolloutContext(RATES, seed=seed, value_fn=lambda i: RATES[i])


def _base(**params: Any) -> dict[str, Any]:
    return {"batch_size": M, "n": N, "seed": 7, **params}


@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_preset_makes_the_named_strategys_choices(name: str, params: dict[str, Any]) -> None:
    named = build_curriculum(name, _base(**params), P)
    composed = build_curriculum("composed", preset_params(name, _base(**params)), P)
    old = run_steps(named, _ctx(), STEPS)
    new = run_steps(composed, _ctx(), STEPS)
    for step, ((i_old, n_old), (i_new, n_new)) in enumerate(zip(old, new, strict=True), start=1):
        np.testing.assert_array_equal(i_new, i_old, err_msg=f"{name} {params}: step {step} selects other prompts")
        np.testing.assert_array_equal(n_new, n_old, err_msg=f"{name} {params}: step {step} allocates otherwise")
    trained = np.concatenate([i for i, _ in old])
    assert np.unique(trained).size >= 4 * M, "the run must train many distinct prompts to compare anything"
    if name in ("knapsack", "cures_online") and params.get("allocation", True):
        assert any(n.min() < n.max() for _, n in old[1:]), "an allocating preset must vary n_i in this run"


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_key_alone_equals_the_named_defaults(preset: str) -> None:
    named = run_steps(build_curriculum(preset, _base(), P), _ctx(), 10)
    composed = run_steps(build_curriculum("composed", _base(preset=preset), P), _ctx(), 10)
    for (i1, n1), (i2, n2) in zip(named, composed, strict=True):
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(n1, n2)


def test_a_preset_part_is_swapped_by_one_key() -> None:
    cur = build_curriculum("composed", _base(preset="mopps", allocator="knapsack"), P)
    assert (cur.config.estimator, cur.config.score, cur.config.allocator) == ("thompson", "distance", "knapsack")
    assert cur.config.n_max == 128 and cur.config.ratio == 16  # knapsack's default ceiling, MoPPS's ratio kept
    out = run_steps(cur, _ctx(), 30)
    assert all(n.sum() == M * N and n.min() >= 2 for _, n in out)
    assert any(n.min() < n.max() for _, n in out[1:])


@pytest.mark.parametrize("estimator", ["beta", "thompson", "value", "probe"])
@pytest.mark.parametrize("score", ["cures", "informative", "knapsack_value", "distance"])
@pytest.mark.parametrize("allocator", ["fixed", "neyman", "gvm", "knapsack"])
def test_every_composition_runs_and_keeps_the_budget(estimator: str, score: str, allocator: str) -> None:
    cur = build_curriculum("composed", _base(estimator=estimator, score=score, allocator=allocator), P)
    ctx = _ctx()
    for _ in range(6):
        cur.run_step(ctx)
        trained = ctx.committed_with_rewards()
        sizes = np.array([g.n for g in trained])
        assert len(trained) == M and len({g.index for g in trained}) == M
        assert sizes.sum() == M * N and sizes.min() >= 2
        cur.observe(trained, ctx.screened_with_rewards())
        ctx.new_step()
    assert ctx.total_rounds == 6 * (2 if estimator == "probe" else 1)


def test_select_topk_of_distance_equals_pcl_and_mopps_rules() -> None:
    from verl_ext.curriculum.mopps import select_topk
    from verl_ext.curriculum.pcl import select_closest

    p = np.random.default_rng(0).uniform(size=50)
    p[[3, 9]] = p[20]  # exact ties: lower position first
    for target in (0.5, 0.2):
        s = distance_score(p, target)
        np.testing.assert_array_equal(select_topk_score(s, 12, "candidate"), select_closest(p, 12, target))
        np.testing.assert_array_equal(select_topk_score(s, 12, "rank"), select_topk(p, 12, target))


def test_scores_by_hand() -> None:
    assert group_informative(0.5, 2) == pytest.approx(0.5)  # HT or TH
    assert group_informative(0.25, 3) == pytest.approx(1 - 0.25**3 - 0.75**3)
    assert knapsack_value(1 / 3, 10**6) == pytest.approx(4 / 27)  # the value's maximum (KnapsackRL)
    assert distance_score(np.array([0.1, 0.9]), 0.5).tolist() == pytest.approx([-0.4, -0.4])


def test_knapsack_and_neyman_allocators_by_hand() -> None:
    # docs/cures.md example: σ = (0.05, 0.3, 0.3, 0.35), N = 20, [2, 8] -> (2, 6, 6, 6)
    np.testing.assert_array_equal(allocate_with_floors(np.array([0.05, 0.3, 0.3, 0.35]), 20, np.full(4, 2), 8),
                                  [2, 6, 6, 6])  # fmt: skip
    # knapsack categories: unseen -> n, last all wrong / all right -> n_min, the rest share what is left
    p = np.array([0.5, 0.0, 1.0, 0.3, 0.5])
    masks = knapsack_categories(np.array([0, 1, 1, 1, 1]), np.array([-1, 0, 1, 2, 2]), p, 1)
    assert [k for k, v in masks.items() if v[0]] == ["cold"] and masks["zero"][1] and masks["one"][2]
    n = knapsack_counts(p, masks, 5 * 8, 8, 2, 128)
    assert n[:3].tolist() == [8, 2, 2] and n.sum() == 40 and n[3] + n[4] == 28
    # without history (value / probe-free estimators) p = 0 or 1 decides, nothing is cold
    masks = knapsack_categories(None, None, np.array([0.0, 1.0, 0.4]), 1)
    assert masks["zero"].tolist() == [True, False, False] and masks["one"].tolist() == [False, True, False]


def test_predicted_success_per_estimator() -> None:
    for estimator in ("beta", "thompson", "value", "probe"):
        cur = build_curriculum("composed", _base(estimator=estimator, score="distance"), P)
        assert isinstance(cur, ComposedCurriculum)
        ctx = _ctx()
        run_steps(cur, ctx, 3)
        trained = ctx.history[-2].committed
        assert trained
        idx = np.arange(P)
        pred = cur.predicted_success(idx)
        assert pred is not None and pred.shape == (P,)
        known = ~np.isnan(pred)
        assert np.all((pred[known] >= 0) & (pred[known] <= 1))
        if estimator == "value":
            np.testing.assert_allclose(pred[known], RATES[known])
        if estimator in ("beta", "thompson"):
            assert known.all()
            post = cur.estimator.posterior  # type: ignore[attr-defined]
            np.testing.assert_allclose(pred, post.alpha / (post.alpha + post.beta))


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"estimator": "bayes"}, "curriculum.params.estimator='bayes' is unknown; valid: beta, thompson, value, probe"),
        ({"score": "entropy"}, "valid: cures, informative, knapsack_value, distance"),
        ({"allocator": "even"}, "valid: fixed, neyman, gvm, knapsack"),
        ({"select": "greedy"}, "valid: topk, softmax, threshold"),
        ({"preset": "grpo"}, "preset='grpo' is unknown; valid: mopps, knapsack, cures_online, pcl, probe"),
        ({"candidates": "all"}, "valid: pass, pool"),
        ({"score": "distance", "tau": 0.2}, "['tau'] are set but not read"),
        ({"allocator": "fixed", "n_max": 64}, "n_max: allocator=neyman, allocator=gvm, allocator=knapsack"),
        ({"estimator": "probe", "candidates": "pool"}, "would roll out every prompt of the pool"),
        ({"allocator": "neyman", "n_min": 1}, "need 2 <= curriculum.params.n_min <= n"),
        ({"select": "softmax", "tau": 0.0}, "curriculum.params.tau=0.0 must be >= 0.001"),
    ],
)
def test_bad_config_names_the_key_and_valid_values(params: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match=None) as err:
        build_curriculum("composed", _base(**params), P)
    assert needle in str(err.value)


def test_value_estimator_without_a_value_model_says_what_to_do() -> None:
    cur = build_curriculum("composed", _base(estimator="value", score="distance"), P)
    with pytest.raises(RuntimeError, match=r"add \+value_model=pcl to the run"):
        cur.run_step(FakeRolloutContext(RATES, seed=0))


ROUND_TRIP = [
    {"preset": "cures_online"},
    {"estimator": "thompson", "score": "cures", "candidates": "pool", "allocator": "gvm"},
    {"preset": "probe", "allocator": "neyman"},
]


@pytest.mark.parametrize("params", ROUND_TRIP)
def test_state_round_trip_resumes_the_same_draws(params: dict[str, Any]) -> None:
    cur = build_curriculum("composed", _base(**params), P)
    run_steps(cur, _ctx(1), 5)
    resumed = build_curriculum("composed", _base(**params), P)
    resumed.load_state_dict(roundtrip_state(cur.state_dict(), "pickle"))
    ahead = run_steps(cur, FakeRolloutContext(RATES, 2, lambda i: RATES[i], start_step=6), 5)
    again = run_steps(resumed, FakeRolloutContext(RATES, 2, lambda i: RATES[i], start_step=6), 5)
    for (i1, n1), (i2, n2) in zip(ahead, again, strict=True):
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(n1, n2)
    other = build_curriculum("composed", _base(estimator="beta", score="distance"), P)
    with pytest.raises(ValueError, match="another composition"):
        other.load_state_dict(cur.state_dict())


def test_estimate_take_keeps_alignment() -> None:
    est = Estimate(np.array([0.1, 0.2, 0.3]), np.array([1.0, 2, 3]), np.array([4.0, 5, 6]), np.array([0, 1, 2]), None)
    sub = est.take(np.array([2, 0]))
    assert sub.p.tolist() == [0.3, 0.1] and sub.alpha.tolist() == [3, 1] and sub.outcome is None


def test_value_model_is_declared_for_the_value_estimator_and_the_value_prior() -> None:
    from verl_ext.curriculum.value_prior import VALUE_PRIOR_EXTENSION, check_value_model_use

    needs = {
        "pcl preset": {"preset": "pcl"},
        "value estimator": {"estimator": "value", "score": "informative"},
        "beta with a value prior": {"estimator": "beta", "prior": {"source": "value_model"}},
        "mopps preset with a value prior": {"preset": "mopps", "prior": {"source": "value_model"}},
    }
    for what, params in needs.items():
        assert ComposedCurriculum.config_extensions(params) == (VALUE_PRIOR_EXTENSION,), what
        check_value_model_use(ComposedCurriculum, params, has_value_model=True)
        with pytest.raises(ValueError, match=r"\+value_model=pcl"):
            check_value_model_use(ComposedCurriculum, params, has_value_model=False)
    for params in ({}, {"preset": "mopps"}, {"preset": "probe"}, {"estimator": "thompson"}):
        assert ComposedCurriculum.config_extensions(params) == ()
        with pytest.raises(ValueError, match="nothing would use the value model"):
            check_value_model_use(ComposedCurriculum, params, has_value_model=True)


def test_value_prior_metrics_and_refusals() -> None:
    cur = build_curriculum("composed", _base(preset="cures_online", cold_n=2, prior={"source": "value_model"}), P)
    metrics = cur.run_step(_ctx())
    assert metrics["composed/prior/prompts"] == M  # the m drawn prompts got their prior from V
    with pytest.raises(ValueError, match=r"\['prior'\] are set but not read"):
        build_curriculum("composed", _base(estimator="probe", score="distance", prior={"source": "value_model"}), P)
    with pytest.raises(ValueError, match="prior.source='pilot' is invalid here"):
        build_curriculum("composed", _base(prior={"source": "pilot"}), P)


@pytest.mark.parametrize("name", ["mopps", "knapsack", "cures_online", "probe"])
def test_preset_predicts_what_the_named_strategy_predicts(name: str) -> None:
    named = build_curriculum(name, _base(), P)
    composed = build_curriculum("composed", _base(preset=name), P)
    for cur in (named, composed):
        run_steps(cur, _ctx(), 12)
    idx = np.arange(P)
    a, b = named.predicted_success(idx), composed.predicted_success(idx)
    assert a is not None and b is not None
    if name == "probe":  # the named probe keeps the kept prompts' probe p̂ of its last step only
        kept = ~np.isnan(a)
        assert kept.sum() == M
        np.testing.assert_array_equal(a[kept], b[kept])
    else:
        np.testing.assert_array_equal(a, b)
        assert np.unique(a).size > 1  # evidence has moved the posterior


def test_cures_algorithm1_predicts_its_posterior_mean() -> None:
    cur = build_curriculum("cures_algorithm1", _base(sigma="bernoulli", num_subsets=2, steps_per_subset=3), P)
    run_steps(cur, _ctx(), 2)
    idx = np.array([0, 5, 5, 150])
    np.testing.assert_array_equal(cur.predicted_success(idx), cur.posterior.mean(idx))
