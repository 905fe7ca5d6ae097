"""SEC (arXiv 2505.14970): Boltzmann arm draws, per-arm passes, TD(0) on the mean |GRPO advantage|, state round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from verl_ext.curriculum import build_curriculum, list_curricula
from verl_ext.curriculum.base import Group
from verl_ext.curriculum.sec import SECConfig, SECCurriculum, boltzmann, grpo_abs_advantage, load_categories, td_update
from verl_ext.curriculum.testing import FakeRolloutContext, roundtrip_state, run_steps


def _sec(categories, m=4, n=4, seed=0, **kw) -> SECCurriculum:
    return SECCurriculum(SECConfig(batch_size=m, n=n, seed=seed, **kw), len(categories), categories=categories)


def test_registered():
    assert "sec" in list_curricula()


def test_boltzmann_hand_computed():
    # softmax([0, 0.4] / 0.4) = softmax([0, 1]) = (1, e) / (1 + e)
    p = boltzmann(np.array([0.0, 0.4]), 0.4)
    assert p == pytest.approx([1 / (1 + np.e), np.e / (1 + np.e)])
    assert boltzmann(np.array([1e6, 0.0]), 0.01) == pytest.approx([1.0, 0.0])  # stable, no overflow


def test_grpo_abs_advantage_hand_computed():
    # [1,0,0,0]: mean .25, unbiased std .5 -> |A| = 1.5, .5, .5, .5 (ε = 1e-6)
    assert grpo_abs_advantage(np.array([1.0, 0, 0, 0])) == pytest.approx([1.5, 0.5, 0.5, 0.5], rel=1e-5)
    # [1,1,0,0]: std sqrt(1/3) -> |A| = .5·sqrt(3) each
    assert grpo_abs_advantage(np.array([1.0, 1, 0, 0])) == pytest.approx([np.sqrt(3) / 2] * 4, rel=1e-5)
    assert grpo_abs_advantage(np.array([1.0, 1, 1])) == pytest.approx([0, 0, 0])  # no signal


def test_td_update_moves_only_the_drawn_arms():
    q = td_update(np.array([0.0, 0.2, 1.0]), {0: 0.75, 2: 0.0}, lr=0.5)
    assert q == pytest.approx([0.375, 0.2, 0.5])


def test_observe_hand_computed_q():
    # arms: 'A' = prompts 0, 1; 'B' = 2, 3; 'C' = 4, 5 (sorted labels -> arm ids 0, 1, 2)
    cur = _sec(["A", "A", "B", "B", "C", "C"], m=2, lr=0.5)
    trained = [
        Group("h0", 0, np.array([1.0, 0, 0, 0])),  # mean |A| .75
        Group("h1", 1, np.array([1.0, 1, 1, 1])),  # 0
        Group("h2", 2, np.array([1.0, 1, 0, 0])),  # sqrt(3)/2
    ]
    metrics = cur.observe(trained)
    # arm A: mean over its 8 responses = (3 + 0)/8 = .375 -> Q = .5·.375; arm B: .5·sqrt(3)/2; arm C unchanged
    assert cur.q == pytest.approx([0.1875, np.sqrt(3) / 4, 0.0], rel=1e-5)
    assert metrics["sec/q/A"] == pytest.approx(0.1875, rel=1e-5) and metrics["sec/q/C"] == 0.0
    cur.observe([Group("h3", 0, np.array([1.0, 0, 0, 0]))])
    assert cur.q[0] == pytest.approx(0.5 * 0.1875 + 0.5 * 0.75, rel=1e-5)


def test_slots_follow_softmax_and_each_arm_serves_a_shuffled_pass():
    # arm 'hi' has Q high: with T small nearly every slot draws it; its prompts come as a pass without repeats
    cats = ["hi"] * 6 + ["lo"] * 6
    cur = _sec(cats, m=3, temperature=0.05)
    cur.q = np.array([1.0, 0.0])
    served = [cur.propose() for _ in range(2)]
    assert all(set(s.tolist()) <= set(range(6)) for s in served)
    assert sorted(np.concatenate(served).tolist()) == list(range(6))  # one full pass of arm 'hi', no repeat
    nxt = cur.propose()
    assert cur.arm_epochs[0] == 1 and len(set(nxt.tolist())) == 3  # new pass started


def test_draw_arms_matches_the_policy_frequencies():
    cur = _sec(["a"] * 100 + ["b"] * 100, m=10, seed=3)
    cur.q = np.array([0.4, 0.0])  # T = 0.4 -> π = (e, 1)/(1 + e) ≈ (.731, .269)
    counts = np.sum([cur.draw_arms() for _ in range(2000)], axis=0)
    assert counts.sum() == 20000
    assert counts[0] / 20000 == pytest.approx(np.e / (1 + np.e), abs=0.01)


def test_an_arm_never_serves_more_slots_than_it_has_prompts():
    cur = _sec(["small"] * 2 + ["big"] * 10, m=6, temperature=0.01)
    cur.q = np.array([0.0, 1.0])  # sorted arms: 'big' = 0, 'small' = 1 -> all mass on 'small' (2 prompts)
    for _ in range(5):
        idx = cur.propose()
        assert idx.size == 6 and len(set(idx.tolist())) == 6
        assert set(range(2)) <= set(idx.tolist())  # both 'small' prompts, the other 4 slots redrawn on 'big'


def test_run_step_commits_m_groups_and_learns_the_informative_arm():
    # 'mid' prompts succeed half the time (large |A|), 'easy' always (|A| = 0): Q_mid grows, SEC favours it
    cats = ["easy"] * 20 + ["mid"] * 20
    rates = np.array([1.0] * 20 + [0.5] * 20)
    cur = _sec(cats, m=4, n=8, seed=1)
    ctx = FakeRolloutContext(rates, seed=2)
    proposals = run_steps(cur, ctx, 30)
    assert all(idx.size == 4 and set(n.tolist()) == {8} for idx, n in proposals)
    assert cur.q[1] > 0.5 > cur.q[0] == 0.0
    late = np.concatenate([idx for idx, _ in proposals[-10:]])
    # π(mid) = softmax(Q/0.4) ≈ 0.88 at Q ≈ (0, 0.8); uniform would give 0.5
    assert (late >= 20).mean() > 0.75


def test_state_round_trip_resumes_bit_exactly():
    cats = [f"L{i % 3}" for i in range(30)]
    rates = np.linspace(0.05, 0.95, 30)
    a = _sec(cats, m=5, n=4, seed=4)
    ctx = FakeRolloutContext(rates, seed=5)
    run_steps(a, ctx, 3)
    for via in ("pickle", "torch"):
        b = _sec(cats, m=5, n=4, seed=99)
        b.load_state_dict(roundtrip_state(a.state_dict(), via))
        assert b.propose().tolist() == _sec_copy(a).propose().tolist()
        assert np.array_equal(b.q, a.q)


def _sec_copy(cur: SECCurriculum) -> SECCurriculum:
    c = _sec([cur.arms[a] for a in cur.arm_of_prompt], m=cur.config.batch_size, n=cur.config.n, seed=123)
    c.load_state_dict(cur.state_dict())
    return c


def test_resume_with_other_categories_is_refused():
    a = _sec(["x", "y"] * 4, m=2)
    b = _sec(["x", "z"] * 4, m=2)
    with pytest.raises(ValueError, match="arms"):
        b.load_state_dict(a.state_dict())


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="lr"):
        SECConfig(lr=0.0)
    with pytest.raises(ValueError, match="temperature"):
        SECConfig(temperature=0.0)
    with pytest.raises(ValueError, match="arm_file"):
        build_curriculum("sec", {"batch_size": 2, "n": 2}, num_prompts=4)
    with pytest.raises(ValueError, match="no option"):
        build_curriculum("sec", {"batch_size": 2, "n": 2, "tau": 1.0}, num_prompts=4)


def _write(tmp_path, extra: list[dict]) -> str:
    path = tmp_path / "train.parquet"
    pd.DataFrame({"prompt": ["q"] * len(extra), "extra_info": extra}).to_parquet(path)
    return str(path)


def test_categories_from_the_training_parquet(tmp_path):
    path = _write(tmp_path, [{"index": 1, "level": "Level 2"}, {"index": 0, "level": "Level 1"},
                             {"index": 2, "level": "Level 2"}])  # fmt: skip
    assert load_categories(path, "extra_info.level", "extra_info.index", 3) == ["Level 1", "Level 2", "Level 2"]
    cur = build_curriculum("sec", {"batch_size": 2, "n": 2, "arm_file": path}, num_prompts=3)
    assert cur.arms == ["Level 1", "Level 2"] and cur.arm_of_prompt.tolist() == [0, 1, 1]


def test_rows_without_a_category_are_named(tmp_path):
    path = _write(tmp_path, [{"index": 0, "level": "Level 1"}, {"index": 1, "level": None}])
    with pytest.raises(ValueError, match=r"1 training rows have no 'extra_info.level'.*\[1\]"):
        load_categories(path, "extra_info.level", "extra_info.index", 2)
    with pytest.raises(ValueError, match="no column 'subject'"):
        load_categories(path, "subject", "extra_info.index", 2)
