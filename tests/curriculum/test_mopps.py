"""MoPPS (arXiv 2507.04632): decayed Beta update, Thompson scoring of the candidate pool, topk / threshold, state."""

from __future__ import annotations

import numpy as np
import pytest

from verl_ext.curriculum import build_curriculum
from verl_ext.curriculum.base import Group
from verl_ext.curriculum.mopps import MoPPSConfig, MoPPSCurriculum, select_threshold, select_topk
from verl_ext.curriculum.testing import FakeRolloutContext, roundtrip_state, run_steps


def _group(index: int, rewards: list[float], handle: str = "h") -> Group:
    return Group(handle=f"{handle}{index}", index=index, rewards=np.array(rewards))


def test_decayed_posterior_update_by_hand() -> None:
    cur = MoPPSCurriculum(MoPPSConfig(batch_size=2, n=4, decay=0.5, ratio=1), 3)
    cur.observe([_group(0, [1, 1, 1, 0]), _group(2, [0, 0, 0, 0])])
    # α ← λα + (1−λ)α0 + s with α0 = β0 = 1, λ = 0.5
    np.testing.assert_allclose(cur.posterior.alpha, [4.0, 1.0, 1.0])
    np.testing.assert_allclose(cur.posterior.beta, [2.0, 1.0, 5.0])
    cur.observe([_group(0, [0, 0, 0, 0])])
    assert cur.posterior.alpha[0] == pytest.approx(0.5 * 4 + 0.5 * 1 + 0)
    assert cur.posterior.beta[0] == pytest.approx(0.5 * 2 + 0.5 * 1 + 4)
    plain = MoPPSCurriculum(MoPPSConfig(batch_size=2, n=4), 3)  # λ = 1: conjugate counts
    plain.observe([_group(1, [1, 0, 1, 1])])
    plain.observe([_group(1, [1, 0, 0, 0])])
    assert (plain.posterior.alpha[1], plain.posterior.beta[1]) == (1 + 3 + 1, 1 + 1 + 3)


def test_topk_and_threshold_by_hand() -> None:
    p = np.array([0.1, 0.45, 0.9, 0.55, 0.5])
    assert select_topk(p, 3, 0.5).tolist() == [4, 1, 3]  # (p − .5)² = 0, .0025, .0025 (ties: candidate order)
    assert select_topk(p, 2, 0.9).tolist() == [2, 3]
    q = np.array([0.1, 0.35, 0.9, 0.75, 0.5])
    keep, short = select_threshold(q, 3, 0.3, 0.7, 0.5, np.random.default_rng(0))
    assert keep.tolist() == [1, 4, 3] and short == 1  # 2 qualify; the fill is the closest to 0.5 (0.75)
    rng = np.random.default_rng(0)
    wide = np.array([0.31, 0.5, 0.69, 0.7, 0.3, 0.95])
    seen = set()
    for _ in range(50):
        keep, short = select_threshold(wide, 2, 0.3, 0.7, 0.5, rng)
        assert short == 0 and set(keep.tolist()) <= {0, 1, 2, 3, 4} and len(set(keep.tolist())) == 2
        seen.update(keep.tolist())
    assert seen == {0, 1, 2, 3, 4}  # uniform among the qualifying, bounds inclusive


def test_step_replays_the_documented_draws() -> None:
    cfg = MoPPSConfig(batch_size=3, n=4, ratio=4, seed=11)
    cur = MoPPSCurriculum(cfg, 40)
    ctx = FakeRolloutContext(np.linspace(0.0, 1.0, 40), seed=0)
    run_steps(cur, ctx, 2)  # give the posterior some evidence
    alpha, beta = cur.posterior.alpha.copy(), cur.posterior.beta.copy()
    rng = np.random.default_rng(0)
    rng.bit_generator.state = cur.rng.bit_generator.state
    perm, pos = cur.sampler.state_dict()["perm"], cur.sampler.state_dict()["pos"]
    cand = perm[pos : pos + 12]
    expected = cand[np.argsort(np.square(rng.beta(alpha[cand], beta[cand]) - 0.5), kind="stable")[:3]]
    metrics = cur.run_step(ctx)
    (method, idx, n), *rest = ctx.record.calls
    assert method == "submit" and not rest and n.tolist() == [4, 4, 4]
    assert idx.tolist() == expected.tolist() and metrics["mopps/candidates"] == 12


def test_selection_concentrates_on_informative_prompts() -> None:
    rates = np.repeat([0.0, 0.5, 1.0], 100)
    cur = MoPPSCurriculum(MoPPSConfig(batch_size=16, n=8, ratio=8, seed=3), rates.size)
    ctx = FakeRolloutContext(rates, seed=1)
    late = [idx for idx, _ in run_steps(cur, ctx, 60)[40:]]
    share = np.mean(np.isin(np.concatenate(late), np.arange(100, 200)))
    assert share > 0.9, share  # uniform would give 1/3
    thr = MoPPSCurriculum(MoPPSConfig(batch_size=16, n=8, ratio=8, seed=3, selection="threshold"), rates.size)
    late = [idx for idx, _ in run_steps(thr, FakeRolloutContext(rates, seed=1), 60)[40:]]
    assert np.mean(np.isin(np.concatenate(late), np.arange(100, 200))) > 0.8  # unseen prompts (p̃ ~ U(0,1)) qualify too


def test_pool_smaller_than_ratio_times_m_uses_the_whole_pool() -> None:
    cur = build_curriculum("mopps", {"batch_size": 4, "n": 2}, 10)
    ctx = FakeRolloutContext(np.full(10, 0.5), seed=0)
    assert cur.run_step(ctx)["mopps/candidates"] == 10


def test_state_roundtrip_gives_identical_next_proposals() -> None:
    rates = np.random.default_rng(5).random(60)
    for via in ("pickle", "torch"):
        for selection in ("topk", "threshold"):
            a = MoPPSCurriculum(MoPPSConfig(batch_size=5, n=4, ratio=3, seed=2, selection=selection, decay=0.9), 60)
            run_steps(a, FakeRolloutContext(rates, seed=0), 7)
            b = MoPPSCurriculum(MoPPSConfig(batch_size=5, n=4, ratio=3, seed=99, selection=selection, decay=0.9), 60)
            b.load_state_dict(roundtrip_state(a.state_dict(), via))
            out_a = run_steps(a, FakeRolloutContext(rates, seed=4), 10)
            out_b = run_steps(b, FakeRolloutContext(rates, seed=4), 10)
            assert [i.tolist() for i, _ in out_a] == [i.tolist() for i, _ in out_b]


@pytest.mark.parametrize(
    "params, match",
    [
        ({"selection": "best"}, "selection"),
        ({"ratio": 0}, "ratio"),
        ({"ratio": 1.5}, "ratio"),
        ({"target": 1.5}, "target"),
        ({"lo": 0.8, "hi": 0.7}, "lo <= hi"),
        ({"decay": 1.1}, "decay"),
        ({"alpha0": 0.0}, "alpha0"),
    ],
)
def test_bad_config_names_the_key(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MoPPSConfig(**params)


def test_build_rejects_unknown_option() -> None:
    with pytest.raises(ValueError, match="no option"):
        build_curriculum("mopps", {"temperature": 1.0}, 10)
