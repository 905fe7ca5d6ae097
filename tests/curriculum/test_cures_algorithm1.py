"""``cures_algorithm1``: the state machine of CurES Algorithm 1 on the fake rollout context (docs/cures.md)."""

from __future__ import annotations

import numpy as np
import pytest

from verl_ext.curriculum.base import build_curriculum
from verl_ext.curriculum.cures import bernoulli_sigma
from verl_ext.curriculum.cures_algorithm1 import CuresAlgorithm1Config, CuresAlgorithm1Curriculum, merge_draws
from verl_ext.curriculum.testing import FakeRolloutContext, roundtrip_state, run_with_metrics


def _norms(groups):
    """A deterministic fake producer: norm = 1 + (index mod 5) for a correct response, 3 for a wrong one."""
    return [np.where(np.asarray(g.rewards) > 0.5, 1.0 + g.index % 5, 3.0) for g in groups]


def _cur(pool: int = 40, **kw) -> CuresAlgorithm1Curriculum:
    params = {"batch_size": 6, "n": 4, "n_min": 2, "n_max": 8, "num_subsets": 2, "steps_per_subset": 2, "seed": 3}
    params.update(kw)
    cur = build_curriculum("cures_algorithm1", params, pool)
    assert isinstance(cur, CuresAlgorithm1Curriculum)
    if cur.config.sigma == "gradnorm":
        cur.set_gradnorm_producer(_norms)
    return cur


def test_subset_boundaries_pilot_and_reset() -> None:
    rates = np.linspace(0.05, 0.95, 40)
    cur = _cur()
    ctx = FakeRolloutContext(rates, seed=0)
    metrics = run_with_metrics(cur, ctx, 4)
    subsets = [np.arange(0, 20), np.arange(20, 40)]
    for step, rec in enumerate(ctx.history[:4], start=1):
        subset = subsets[(step - 1) // 2]
        kinds = [c[0] for c in rec.calls]
        if step in (1, 3):  # first step of each subset: pilot of every prompt of the subset with N' = 4, then draws
            assert kinds == ["generate", "submit"]
            np.testing.assert_array_equal(rec.calls[0][1], subset)
            assert np.all(rec.calls[0][2] == 4)
            assert len(rec.released) == subset.size  # pilot responses are not trained on
            assert metrics[step - 1]["cures/pilot"] == 1.0
        else:
            assert kinds == ["submit"] and metrics[step - 1]["cures/pilot"] == 0.0
        drawn = rec.calls[-1][1]
        assert np.isin(drawn, subset).all()
        assert rec.calls[-1][2].sum() == 6 * 4  # Σ n_i = N = m·n every step
        assert metrics[step - 1]["cures/subset"] == (step - 1) // 2 + 1
    # reset at step 3: the posterior holds only the new subset's pilot (4 per prompt), nothing of subset 1
    assert metrics[2]["cures/evidence_subset"] == 4 * 20 and metrics[2]["cures/evidence_other"] == 0.0
    # step 2 still carried subset 1's pilot plus step 1's training rollouts
    assert metrics[1]["cures/evidence_subset"] == 4 * 20 + 24 and metrics[1]["cures/evidence_other"] == 0.0


def test_draws_with_replacement_merge_into_one_group() -> None:
    # a tiny subset (3 prompts) and m = 6 draws: repeats are certain; each repeated prompt is one group
    cur = _cur(pool=6, batch_size=6, num_subsets=2, steps_per_subset=1, sigma="bernoulli")
    ctx = FakeRolloutContext(np.full(6, 0.5), seed=1)
    metrics = cur.run_step(ctx)
    _, idx, n = ctx.record.calls[-1]
    assert np.unique(idx).size == idx.size <= 3  # one group per distinct prompt
    assert metrics["cures/draws"] == 6 and metrics["cures/draw_repeats"] == 6 - idx.size > 0
    assert n.sum() == 24 and metrics["cures/train_responses"] == 24
    assert len(ctx.committed) == idx.size


def test_merge_draws_sums_allocations_in_first_draw_order() -> None:
    idx, n = merge_draws(np.array([7, 3, 7, 5, 3, 7]), np.array([2, 3, 4, 2, 5, 6]))
    np.testing.assert_array_equal(idx, [7, 3, 5])
    np.testing.assert_array_equal(n, [12, 8, 2])


def test_draw_frequencies_follow_rho_with_replacement() -> None:
    """m = 200 draws from a 4-prompt subset: counts follow ρ* (Eq. 14) of the pilot posterior (chi-square)."""
    from scipy import stats

    from verl_ext.curriculum.cures import sampling_probs

    cur = _cur(pool=8, batch_size=200, n=4, n_max=8, num_subsets=2, steps_per_subset=5, sigma="bernoulli", tau=0.1)
    ctx = FakeRolloutContext(np.array([0.0, 0.5, 1.0, 0.25, 0.5, 0.5, 0.5, 0.5]), seed=2)
    cur.run_step(ctx)  # the pilot fixes the posterior; draws of this step
    members = np.arange(4)
    rho = sampling_probs(cur.posterior.mean(members), 0.1)
    counts = np.zeros(4)
    for _ in range(20):  # more draws from the same posterior: same rng stream, no observe
        draws = members[cur.rng.choice(4, size=200, replace=True, p=rho)]
        counts += np.bincount(draws, minlength=4)
    assert stats.chisquare(counts, rho * counts.sum()).pvalue > 1e-3


def test_allocation_is_exact_budget_with_floors_every_step() -> None:
    rates = np.random.default_rng(0).random(60)
    cur = _cur(pool=60, batch_size=10, n=8, n_min=2, n_max=32, num_subsets=3, steps_per_subset=4)
    ctx = FakeRolloutContext(rates, seed=0)
    metrics = run_with_metrics(cur, ctx, 12)
    for rec, m in zip(ctx.history, metrics, strict=False):
        assert rec.calls[-1][2].sum() == 80
        assert m["cures/alloc_min"] >= 2 and m["cures/alloc_max"] <= 32
    assert [m["cures/pilot"] for m in metrics] == [1, 0, 0, 0] * 3


def test_counts_update_every_step_from_training_rollouts() -> None:
    cur = _cur(sigma="bernoulli")
    ctx = FakeRolloutContext(np.full(40, 0.5), seed=0)
    cur.run_step(ctx)
    before = cur.posterior.alpha + cur.posterior.beta
    trained = ctx.committed_with_rewards()
    out = cur.observe(trained, ctx.screened_with_rewards())
    after = cur.posterior.alpha + cur.posterior.beta
    assert (after - before).sum() == sum(g.n for g in trained) == 24  # Eq. 23; screened pilot not counted twice
    assert out["cures/n_mismatch"] == 0.0


def test_train_on_pilot_commits_pilot_groups_and_counts_them_once() -> None:
    cur = _cur(sigma="bernoulli", train_on_pilot=True)
    ctx = FakeRolloutContext(np.full(40, 0.5), seed=0)
    cur.run_step(ctx)
    assert not ctx.released and len(ctx.committed) == 20 + np.unique(ctx.record.calls[-1][1]).size
    cur.observe(ctx.committed_with_rewards())
    assert (cur.posterior.alpha + cur.posterior.beta - 2).sum() == 4 * 20 + 24


def test_gradnorm_sigma_uses_pilot_norms_and_differs_from_bernoulli() -> None:
    cur = _cur()
    ctx = FakeRolloutContext(np.linspace(0.05, 0.95, 40), seed=0)
    metrics = cur.run_step(ctx)
    assert metrics["cures/gradnorm_measured"] == 80
    assert not np.isnan(cur.moments.moments[:, :20]).all(axis=0).any()  # every pilot prompt has moments
    assert np.isnan(cur.moments.moments[:, 20:]).all()
    idx = np.arange(20)
    p = cur.posterior.mean(idx)
    got = cur.sigma(idx)
    bern = bernoulli_sigma(cur.posterior.alpha[idx], cur.posterior.beta[idx])
    assert not np.allclose(got, bern)
    # Eq. 21 by hand for one prompt with both classes
    pilot = [ctx.group(h) for h in ctx.history[0].generated[:20]]
    g = next(g for g in pilot if 0 < g.successes < g.n)
    r = g.rewards > 0.5
    norms = np.where(r, 1.0 + g.index % 5, 3.0)
    m1c, m2c = norms[r].mean(), (norms[r] ** 2).mean()
    m1w, m2w = norms[~r].mean(), (norms[~r] ** 2).mean()
    pi, qi = p[g.index], 1 - p[g.index]
    want = np.sqrt(max(0.0, pi * qi * qi * m2c + pi * pi * qi * m2w - (pi * qi) ** 2 * (m1c - m1w) ** 2))
    assert got[g.index] == pytest.approx(want, rel=1e-6)


def test_gradnorm_without_producer_fails_at_the_end_of_the_pilot() -> None:
    cur = build_curriculum("cures_algorithm1", {"batch_size": 4, "n": 4, "num_subsets": 2, "steps_per_subset": 2}, 20)
    ctx = FakeRolloutContext(np.full(20, 0.5), seed=0)
    with pytest.raises(RuntimeError, match=r"no producer is attached.*gradnorm_extension:CuresGradNormExtension"):
        cur.run_step(ctx)
    assert [c[0] for c in ctx.record.calls] == ["generate"]  # the pilot ran, nothing was trained
    cur.set_gradnorm_producer(lambda groups: [np.ones(g.n - 1) for g in groups])  # one norm missing per group
    with pytest.raises(RuntimeError, match="need 4 finite values"):
        cur.run_step(FakeRolloutContext(np.full(20, 0.5), seed=0))


def test_subsets_from_data_labels() -> None:
    labels = np.array([3] * 5 + [1] * 7 + [3] * 3 + [2] * 5)  # unsorted, non-contiguous labels
    cur = _cur(pool=20, subsets="data", num_subsets=3, steps_per_subset=1, batch_size=4, sigma="bernoulli")
    with pytest.raises(RuntimeError, match="no subset labels"):
        cur.run_step(FakeRolloutContext(np.full(20, 0.5), seed=0))
    with pytest.raises(ValueError, match="num_subsets=3"):
        _cur(pool=20, subsets="data", num_subsets=2, sigma="bernoulli").set_subset_labels(labels)
    cur.set_subset_labels(labels)
    ctx = FakeRolloutContext(np.full(20, 0.5), seed=0)
    run_with_metrics(cur, ctx, 3)
    for t, rec in enumerate(ctx.history[:3], start=1):
        np.testing.assert_array_equal(rec.calls[0][1], np.flatnonzero(labels == t))
    with pytest.raises(ValueError, match="total_training_steps <= 3"):
        cur.run_step(ctx)


def test_state_roundtrip_resumes_mid_subset_and_across_a_boundary() -> None:
    rates = np.random.default_rng(1).random(40)
    a = _cur()
    run_with_metrics(a, FakeRolloutContext(rates, seed=0), 1)
    b = _cur()
    b.load_state_dict(roundtrip_state(a.state_dict(), "torch"))
    ca, cb = FakeRolloutContext(rates, seed=5, start_step=2), FakeRolloutContext(rates, seed=5, start_step=2)
    ma, mb = run_with_metrics(a, ca, 3), run_with_metrics(b, cb, 3)
    for ra, rb in zip(ca.history[:3], cb.history[:3], strict=True):
        assert [c[0] for c in ra.calls] == [c[0] for c in rb.calls]
        np.testing.assert_array_equal(ra.calls[-1][1], rb.calls[-1][1])
        np.testing.assert_array_equal(ra.calls[-1][2], rb.calls[-1][2])
    assert [m["cures/pilot"] for m in mb] == [0.0, 1.0, 0.0]  # no pilot re-run on resume; step 3 starts subset 2
    assert ma[1]["cures/sigma_mean"] == mb[1]["cures/sigma_mean"]
    with pytest.raises(ValueError, match="other settings"):
        _cur(pilot_n=3).load_state_dict(a.state_dict())


@pytest.mark.parametrize(
    ("params", "fix"),
    [
        ({"subsets": "files"}, "curriculum.subsets"),
        ({"pilot_n": 0}, "pilot_n"),
        ({"pilot_n": 1, "train_on_pilot": True}, "pilot_n"),
        ({"gradnorm_params": "embed_tokens"}, "gradnorm_params.*lm_head"),
        ({"sigma": "exact"}, "curriculum.sigma"),
        ({"steps_per_subset": 0}, "steps_per_subset"),
    ],
)
def test_config_errors_name_the_key(params: dict, fix: str) -> None:
    with pytest.raises(ValueError, match=fix):
        CuresAlgorithm1Config(batch_size=4, n=8, **params)
