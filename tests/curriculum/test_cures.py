"""CurES shared maths and the ``cures_online`` strategy (docs/cures.md; allocation, ρ*, posterior, state)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from verl_ext.curriculum.base import build_curriculum
from verl_ext.curriculum.cures import (
    BetaPosterior,
    GradNormMoments,
    allocate_with_floors,
    bernoulli_sigma,
    neyman_allocation,
    sampling_probs,
)
from verl_ext.curriculum.cures_online import CuresOnlineConfig as CuresConfig
from verl_ext.curriculum.cures_online import CuresOnlineCurriculum as CuresCurriculum
from verl_ext.curriculum.cures_online import draw_distinct
from verl_ext.curriculum.sumtree import SumTree
from verl_ext.curriculum.testing import FakeRolloutContext, roundtrip_state, run_steps

# ---------------------------------------------------------------------------------------------------------- ρ*


def test_sampling_probs_spec_example() -> None:
    rho = sampling_probs(np.array([0.5, 1 / 6, 0.0]), 0.1)
    np.testing.assert_allclose(rho, [0.777202, 0.217561, 0.005237], atol=1e-6)
    assert rho.sum() == pytest.approx(1.0, abs=1e-15)


def test_sampling_probs_uniform_limit() -> None:
    p = np.random.default_rng(0).random(50)
    np.testing.assert_allclose(sampling_probs(p, 1e6), np.full(50, 1 / 50), atol=1e-6)
    np.testing.assert_allclose(sampling_probs(p, float("inf")), np.full(50, 1 / 50), rtol=1e-14)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=30))
def test_sampling_probs_properties(p: list[float]) -> None:
    arr = np.array(p)
    rho = sampling_probs(arr, 0.1)
    assert rho.sum() == pytest.approx(1.0)
    # monotone in sqrt(p(1-p)): a prompt closer to 0.5 never gets less mass
    score = np.sqrt(arr * (1 - arr))
    order = np.argsort(score, kind="stable")
    assert np.all(np.diff(rho[order]) >= -1e-15)
    np.testing.assert_allclose(sampling_probs(arr, 1e9), 1 / arr.size, atol=1e-8)


def test_sampling_probs_concentrates_as_tau_vanishes() -> None:
    p = np.array([0.1, 0.5, 0.3, 0.9, 0.0])
    masses = [sampling_probs(p, tau)[1] for tau in (1.0, 0.1, 0.01, 0.001)]
    assert np.all(np.diff(masses) > 0)
    assert masses[-1] > 0.999


def test_sampling_probs_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="tau"):
        sampling_probs(np.array([0.5]), 0.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sampling_probs(np.array([1.5]), 0.1)


# ---------------------------------------------------------------------------------------------------- allocation


def test_allocation_spec_example() -> None:
    n = neyman_allocation(np.array([0.05, 0.3, 0.3, 0.35]), 20, 2, 8)
    assert n.dtype == np.int64
    assert n.tolist() == [2, 6, 6, 6]


def test_allocation_all_zero_sigma_is_uniform() -> None:
    assert neyman_allocation(np.zeros(4), 32, 2, 32).tolist() == [8, 8, 8, 8]
    # remainder: descending fractional part ties → larger σ (all equal) → lower position
    assert neyman_allocation(np.zeros(4), 10, 2, 8).tolist() == [3, 3, 2, 2]


def test_allocation_tie_breaks_by_sigma_then_position() -> None:
    # σ=(1,1,2), N=9 → x=(2.25, 2.25, 4.5): the largest fractional part (.5) gets the one spare unit
    assert neyman_allocation(np.array([1.0, 1.0, 2.0]), 9, 1, 9).tolist() == [2, 2, 5]
    # exact ties in fractional part: σ=(1,1), N=5 → 2.5 each, lower position wins
    assert neyman_allocation(np.array([1.0, 1.0]), 5, 1, 5).tolist() == [3, 2]


def test_allocation_respects_ceiling_and_floor() -> None:
    n = neyman_allocation(np.array([100.0, 1.0, 1.0, 1.0]), 20, 2, 8)
    assert n.tolist() == [8, 4, 4, 4]
    floors = np.array([4, 2, 2, 2])
    n = allocate_with_floors(np.array([0.01, 1.0, 1.0, 1.0]), 16, floors, 8)
    assert n[0] == 4 and n.sum() == 16


@pytest.mark.parametrize("budget", [7, 33])
def test_allocation_infeasible_budget_names_fix(budget: int) -> None:
    with pytest.raises(ValueError, match="n_min"):
        neyman_allocation(np.ones(4), budget, 2, 8)


sigmas = st.lists(st.one_of(st.just(0.0), st.floats(1e-4, 10.0, allow_nan=False)), min_size=1, max_size=40).map(
    np.array
)


def _check_allocation(sig: np.ndarray, n_min: int, n_max: int, frac: float, lo: np.ndarray) -> None:
    m = sig.size
    budget = int(round(m * n_min + frac * m * (n_max - n_min)))
    n = neyman_allocation(sig, budget, n_min, n_max)
    assert n.sum() == budget
    assert n.min() >= n_min and n.max() <= n_max
    assert np.array_equal(n, neyman_allocation(sig.copy(), budget, n_min, n_max))  # deterministic
    # weak monotonicity in σ for equal floors: no pair with σ_i > σ_j and n_i < n_j
    assert not np.any((sig[:, None] > sig[None, :]) & (n[:, None] < n[None, :]))
    # mixed floors: Σ, per-prompt floors and ceiling
    budget2 = int(lo.sum() + round(frac * (m * n_max - lo.sum())))
    n2 = allocate_with_floors(sig, budget2, lo, n_max)
    assert n2.sum() == budget2 and np.all(n2 >= lo) and np.all(n2 <= n_max)


def test_allocation_random_cases() -> None:
    """3,000 seeded random cases: zero σ, ties, heavy tails, mixed floors."""
    rng = np.random.default_rng(2024)
    for _ in range(3000):
        m = int(rng.integers(1, 64))
        kind = rng.integers(0, 4)
        if kind == 0:
            sig = rng.random(m)
        elif kind == 1:
            sig = np.where(rng.random(m) < 0.4, 0.0, rng.lognormal(0, 2, m))
        elif kind == 2:
            sig = rng.choice([0.0, 0.1, 0.3, 0.3], m)  # many exact ties
        else:
            sig = np.zeros(m)
        n_min = int(rng.integers(2, 5))
        n_max = int(rng.integers(n_min, 40))
        _check_allocation(sig, n_min, n_max, float(rng.random()), rng.integers(n_min, n_max + 1, m))


@settings(max_examples=400, deadline=None)
@given(sigmas, st.integers(2, 4), st.integers(4, 40), st.floats(0.0, 1.0), st.data())
def test_allocation_properties(sig: np.ndarray, n_min: int, n_max: int, frac: float, data: st.DataObject) -> None:
    n_max = max(n_max, n_min)
    lo = np.array(data.draw(st.lists(st.integers(n_min, n_max), min_size=sig.size, max_size=sig.size)))
    _check_allocation(sig, n_min, n_max, frac, lo)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0.5, 2.0), min_size=2, max_size=30).map(np.array), st.integers(4, 8))
def test_allocation_proportional_when_no_bound_binds(sig: np.ndarray, per: int) -> None:
    m = sig.size
    budget = m * per
    share = budget * sig / sig.sum()
    n_min, n_max = 1, 10_000
    if share.min() < n_min + 1:  # keep every bound slack
        return
    n = neyman_allocation(sig, budget, n_min, n_max)
    assert np.all(np.abs(n - share) < 1.0)
    # monotone in σ: raising one σ never lowers its count
    bumped = sig.copy()
    bumped[0] *= 1.5
    share_b = budget * bumped / bumped.sum()
    if share_b.min() >= n_min + 1:
        assert neyman_allocation(bumped, budget, n_min, n_max)[0] >= n[0]


# ----------------------------------------------------------------------------------------------------- posterior


def test_posterior_update_and_mean() -> None:
    post = BetaPosterior(3)
    post.update(np.array([0]), np.array([3]), np.array([8]))
    assert (post.alpha[0], post.beta[0]) == (4.0, 6.0)
    assert post.mean(np.array([0]))[0] == pytest.approx(0.4)
    assert post.mean()[1] == 0.5


def test_posterior_forgetting() -> None:
    post = BetaPosterior(2, forget=0.5)
    post.alpha[0], post.beta[0] = 3.0, 5.0
    post.update(np.array([0]), np.array([2]), np.array([4]))
    assert (post.alpha[0], post.beta[0]) == (4.0, 5.0)


def test_posterior_repeated_indices_accumulate_once() -> None:
    post = BetaPosterior(3, forget=0.5)
    post.alpha[1], post.beta[1] = 3.0, 5.0
    changed = post.update(np.array([1, 2, 1]), np.array([1, 0, 1]), np.array([2, 1, 2]))
    assert changed.tolist() == [1, 2]
    # one visit with s=2 of n=4 → same as test_posterior_forgetting
    assert (post.alpha[1], post.beta[1]) == (4.0, 5.0)
    assert post.visits.tolist() == [0, 1, 1]


def test_posterior_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="forget"):
        BetaPosterior(3, forget=1.5)
    post = BetaPosterior(3)
    with pytest.raises(ValueError, match="extra_info.index"):
        post.update(np.array([3]), np.array([0]), np.array([1]))
    with pytest.raises(ValueError, match="successes"):
        post.update(np.array([0]), np.array([3]), np.array([2]))


def test_posterior_state_roundtrip() -> None:
    post = BetaPosterior(4, forget=0.7)
    post.update(np.array([0, 3]), np.array([1, 2]), np.array([4, 4]))
    other = BetaPosterior(4, forget=0.7)
    other.load_state_dict(post.state_dict())
    np.testing.assert_array_equal(other.alpha, post.alpha)
    np.testing.assert_array_equal(other.visits, post.visits)
    with pytest.raises(ValueError, match="train_files"):
        BetaPosterior(5).load_state_dict(post.state_dict())


def test_bernoulli_sigma_values() -> None:
    assert bernoulli_sigma(1.0, 1.0) == pytest.approx(0.408248, abs=1e-6)
    assert bernoulli_sigma(5.0, 5.0) == pytest.approx(0.477, abs=1e-3)
    assert bernoulli_sigma(1.0, 9.0) == pytest.approx(0.286, abs=1e-3)
    assert bernoulli_sigma(1.0, 33.0) == pytest.approx(0.167, abs=1e-3)


def test_observe_groups_by_index_with_threshold() -> None:
    from verl_ext.curriculum.base import Group

    cur = CuresCurriculum(CuresConfig(batch_size=2, n=4), 5)
    trained = [
        Group("a", 3, np.array([1.0, 0.0, 0.6, 0.4])),  # 2 of 4 (> 0.5)
        Group("b", 3, np.array([1.0, 1.0])),  # same index: accumulates → 4 of 6
        Group("c", 1, np.array([0.5, 0.0])),  # 0.5 is not a success
    ]
    cur.observe(trained)
    post = cur.posterior
    assert (post.alpha[3], post.beta[3]) == (5.0, 3.0)
    assert (post.alpha[1], post.beta[1]) == (1.0, 3.0)


# --------------------------------------------------------------------------------------------- gradnorm σ


def test_gradnorm_sigma_formula_and_fallbacks() -> None:
    mom = GradNormMoments(4)
    # prompt 0: correct norms [2, 4] (M1c 3, M2c 10), wrong [1] (M1w 1, M2w 1)
    mom.update(np.array([0, 0, 0]), np.array([2.0, 4.0, 1.0]), np.array([True, True, False]))
    p = np.array([0.5])
    want = np.sqrt(0.5 * 0.25 * 10 + 0.25 * 0.5 * 1 - 0.0625 * (3 - 1) ** 2)
    assert mom.sigma(np.array([0]), p, np.array([9.9]))[0] == pytest.approx(want)
    # prompt 1 only correct norms: wrong class falls back to the global wrong moments (M1w 1, M2w 1)
    mom.update(np.array([1]), np.array([2.0]), np.array([True]))
    want1 = np.sqrt(0.5 * 0.25 * 4 + 0.25 * 0.5 * 1 - 0.0625 * (2 - 1) ** 2)
    assert mom.sigma(np.array([1]), p, np.array([9.9]))[0] == pytest.approx(want1)
    # never measured: G_rms · fallback, G_rms² = mean of all squared norms = (4 + 16 + 1 + 4)/4
    got = mom.sigma(np.array([2]), p, np.array([0.4]))[0]
    assert got == pytest.approx(np.sqrt(25 / 4) * 0.4)


def test_online_refuses_gradnorm_naming_the_valid_choice() -> None:
    with pytest.raises(ValueError, match=r"sigma='gradnorm' is not implemented for cures_online.*'bernoulli'"):
        CuresConfig(batch_size=4, n=8, sigma="gradnorm")


# --------------------------------------------------------------------------------------------- sum tree and draw


def test_sumtree_matches_rebuild_after_updates() -> None:
    rng = np.random.default_rng(0)
    tree = SumTree(rng.random(1000))
    for _ in range(100):
        pos = rng.integers(0, 1000, 37)
        tree.update(pos, rng.random(37))
    fresh = SumTree(tree.leaves.copy())
    for a, b in zip(tree.levels, fresh.levels, strict=True):
        np.testing.assert_array_equal(a, b)


def test_paper_cache_equals_full_recompute() -> None:
    cur = CuresCurriculum(CuresConfig(batch_size=16, n=8, tau=0.05, forget=0.9), 500)
    rng = np.random.default_rng(1)
    from verl_ext.curriculum.base import Group

    for t in range(100):
        idx = rng.choice(500, 16, replace=False)
        groups = [Group(f"h{t}x{i}", int(i), (rng.random(8) < 0.3).astype(float)) for i in idx]
        cur.step = t + 1
        cur.observe(groups)
    cached = cur.tree.leaves.copy()
    full = np.exp((np.sqrt(cur.posterior.mean() * (1 - cur.posterior.mean())) - 0.5) / 0.05)
    np.testing.assert_allclose(cached, full, rtol=1e-12)
    assert cur.tree.total == pytest.approx(full.sum(), rel=1e-12)


def test_draw_m1_chi_square() -> None:
    p_hat = np.linspace(0.0, 1.0, 20)
    rho = sampling_probs(p_hat, 0.1)
    tree = SumTree(rho)
    rng = np.random.default_rng(123)
    # 100k draws of the i.i.d. primitive that successive sampling consumes ...
    counts = np.bincount(tree.sample(100_000, rng), minlength=20)
    assert stats.chisquare(counts, 100_000 * rho).pvalue > 1e-3
    # ... and 10k calls of the full m = 1 draw
    counts = np.bincount(np.concatenate([draw_distinct(tree, 1, rng) for _ in range(10_000)]), minlength=20)
    assert stats.chisquare(counts, 10_000 * rho).pvalue > 1e-3
    # the test has power: a 10% shift of mass between two prompts is rejected
    wrong = rho.copy()
    wrong[[0, 10]] = rho[0] + 0.1 * rho[10], 0.9 * rho[10]
    counts = np.bincount(tree.sample(100_000, rng), minlength=20)
    assert stats.chisquare(counts, 100_000 * wrong).pvalue < 1e-3


def test_draw_inclusion_and_distinct() -> None:
    rng = np.random.default_rng(7)
    p_hat = rng.random(1000)
    rho = sampling_probs(p_hat, 0.5)
    assert 5 * rho.max() < 0.05
    tree = SumTree(rho)
    hits = np.zeros(1000)
    reps = 10_000
    for _ in range(reps):
        d = draw_distinct(tree, 5, rng)
        assert np.unique(d).size == 5
        hits[d] += 1
    # inclusion ≈ m·ρ for small ρ: compare aggregated over deciles of ρ (per-prompt counts are too noisy)
    order = np.argsort(rho)
    for part in np.array_split(order, 10):
        assert hits[part].sum() / reps == pytest.approx(5 * rho[part].sum(), rel=0.04)
    np.testing.assert_array_equal(tree.leaves, rho)  # zeroed draws were restored


def test_draw_peaked_distribution_terminates() -> None:
    w = np.full(2000, 1e-200)
    w[:3] = 1.0
    d = draw_distinct(SumTree(w), 50, np.random.default_rng(0))
    assert np.unique(d).size == 50 and set(range(3)) <= set(d.tolist())


# ------------------------------------------------------------------------------------------- paper curriculum


def test_paper_step_submits_allocation_and_commits() -> None:
    cfg = CuresConfig(batch_size=16, n=8, n_min=2, pilot_n=4, n_max=32, seed=5)
    cur = build_curriculum("cures_online", {"batch_size": 16, "n": 8, "seed": 5}, 200)
    assert isinstance(cur, CuresCurriculum) and cur.config == cfg
    rates = np.random.default_rng(0).random(200)
    ctx = FakeRolloutContext(rates, seed=0)
    metrics = cur.run_step(ctx)
    ((method, idx, n),) = ctx.record.calls
    assert method == "submit" and np.unique(idx).size == 16 and n.sum() == 128 and n.min() >= 4  # all cold: pilot
    assert len(ctx.committed) == 16
    for key in ("cures/rho_entropy", "cures/rho_ess", "cures/phat_q50", "cures/alloc_mean", "cures/select_s"):
        assert key in metrics
    assert metrics["cures/alloc_cold"] == 16
    obs = cur.observe(ctx.committed_with_rewards())
    assert obs["cures/n_mismatch"] == 0 and not any(k.startswith("curriculum/") for k in obs)
    ctx.new_step()
    # after many steps, prompts with p̂ near 0.5 are drawn more often than p ≈ 0 or 1 ones
    rates = np.where(np.arange(200) < 100, 0.5, 0.0)
    cur2 = CuresCurriculum(CuresConfig(batch_size=16, n=8, seed=1), 200)
    out = run_steps(cur2, FakeRolloutContext(rates, seed=0), 60)
    late = np.concatenate([i for i, _ in out[30:]])
    assert np.mean(late < 100) > 0.7
    n_all = np.concatenate([n for _, n in out])
    assert all(n.sum() == 128 for _, n in out) and n_all.min() >= 2


def test_paper_ablation_switches() -> None:
    ctx = FakeRolloutContext(np.full(100, 0.3), seed=0)
    cur = CuresCurriculum(CuresConfig(batch_size=10, n=8, allocation=False), 100)
    ((_, n),) = run_steps(cur, ctx, 1)
    assert np.all(n == 8)
    cur = CuresCurriculum(CuresConfig(batch_size=10, n=8, sampling=False), 100)
    run_steps(cur, ctx, 3)
    assert np.all(cur.tree.leaves == 1.0)


def test_paper_subsets_schedule_resets_posterior() -> None:
    cfg = CuresConfig(batch_size=4, n=8, schedule="subsets", subset_sizes=[30, 30, 40], steps_per_subset=2)
    cur = CuresCurriculum(cfg, 100)
    out = run_steps(cur, FakeRolloutContext(np.full(100, 0.5), seed=0), 6)
    for t, (idx, _) in enumerate(out):
        lo, hi = [(0, 30), (30, 60), (60, 100)][t // 2]
        assert idx.min() >= lo and idx.max() < hi
    assert cur.posterior.visits[:60].sum() == 0  # reset on entering subset 3
    with pytest.raises(ValueError, match="subset_sizes"):
        CuresCurriculum(CuresConfig(batch_size=4, n=8, schedule="subsets", subset_sizes=[50, 40]), 100)


@pytest.mark.parametrize(
    "params",
    [
        {"batch_size": 8, "n": 8, "seed": 3},
        {"batch_size": 8, "n": 8, "seed": 3, "forget": 0.7},
        {"batch_size": 8, "n": 8, "seed": 3, "schedule": "subsets", "num_subsets": 3, "steps_per_subset": 4},
    ],
)
def test_paper_state_dict_resume_is_exact(params: dict) -> None:
    rates = np.random.default_rng(0).random(120)
    a = build_curriculum("cures_online", params, 120)
    run_steps(a, FakeRolloutContext(rates, seed=0), 5)
    b = build_curriculum("cures_online", params, 120)
    b.load_state_dict(roundtrip_state(a.state_dict(), "torch"))
    out_a = run_steps(a, FakeRolloutContext(rates, seed=9, start_step=6), 100)
    out_b = run_steps(b, FakeRolloutContext(rates, seed=9, start_step=6), 100)
    for (ia, na), (ib, nb) in zip(out_a, out_b, strict=True):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(na, nb)
    # a fresh (non-resumed) object diverges, so the comparison above has teeth
    c = build_curriculum("cures_online", params, 120)
    out_c = run_steps(c, FakeRolloutContext(rates, seed=9, start_step=6), 3)
    assert any(not np.array_equal(x[0], y[0]) for x, y in zip(out_a, out_c, strict=False))


def test_paper_load_rejects_other_pool_or_settings() -> None:
    a = CuresCurriculum(CuresConfig(batch_size=4, n=8), 50)
    with pytest.raises(ValueError, match="train_files"):
        CuresCurriculum(CuresConfig(batch_size=4, n=8), 60).load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="curriculum"):
        CuresCurriculum(CuresConfig(batch_size=4, n=8, alpha0=2.0), 50).load_state_dict(a.state_dict())
    # a τ change is allowed and triggers a full recompute
    b = CuresCurriculum(CuresConfig(batch_size=4, n=8, tau=0.5), 50)
    b.load_state_dict(a.state_dict())
    assert b.tree.total == pytest.approx(50.0)


@pytest.mark.parametrize(
    ("params", "fix"),
    [
        ({"n_min": 1}, "n_min"),
        ({"pilot_n": 12}, "pilot_n"),
        ({"n": 8, "n_max": 6}, "n_max"),
        ({"tau": 0.0}, "curriculum.tau"),
        ({"sigma": "exact"}, "curriculum.sigma"),
        ({"forget": 2.0}, "curriculum.forget"),
        ({"cold_start": "none"}, "cold_start"),
    ],
)
def test_config_errors_name_the_fix(params: dict, fix: str) -> None:
    with pytest.raises(ValueError, match=fix):
        CuresConfig(**params)


def test_old_mode_key_is_an_unknown_option() -> None:
    with pytest.raises(ValueError, match=r"no option\(s\) \['mode'\]"):
        build_curriculum("cures_online", {"mode": "paper", "batch_size": 4, "n": 8}, 50)


def test_old_cures_state_is_refused_naming_the_new_strategy() -> None:
    """A curriculum state written by the old ``cures`` strategy (it carries ``mode``) names its new name."""
    state = CuresCurriculum(CuresConfig(batch_size=4, n=8), 50).state_dict()
    with pytest.raises(ValueError, match=r"mode='paper'.*'cures_online'.*cures_algorithm1"):
        CuresCurriculum(CuresConfig(batch_size=4, n=8), 50).load_state_dict({"mode": "paper", **state})


def test_legacy_checkpoint_message_maps_both_old_modes() -> None:
    from verl_ext.curriculum import legacy_checkpoint_message

    assert "'cures_online'" in legacy_checkpoint_message("cures", {"mode": "paper", "tau": 0.1})
    assert "'cures_online'" in legacy_checkpoint_message("cures", {})  # paper was the default mode
    assert "'cures_release'" in legacy_checkpoint_message("cures", {"mode": "release"})
    assert legacy_checkpoint_message("cures_online", {"tau": 0.1}) is None
