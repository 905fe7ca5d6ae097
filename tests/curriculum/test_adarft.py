"""AdaRFT (arXiv 2504.05520): target update, closest-difficulty selection, difficulty sources, state."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from verl_ext.curriculum import build_curriculum
from verl_ext.curriculum.adarft import (
    AdaRFTConfig,
    AdaRFTCurriculum,
    load_difficulty,
    select_closest,
    transform_difficulty,
    update_target,
)
from verl_ext.curriculum.base import Group
from verl_ext.curriculum.testing import FakeRolloutContext, roundtrip_state, run_steps

DEFAULTS = {"eta": 50.0, "alpha": 2.0, "beta": 0.5, "lo": 0.0, "hi": 100.0}


def test_target_update_by_hand() -> None:
    assert update_target(0.0, 1.0, **DEFAULTS) == pytest.approx(50 * np.tanh(1.0))  # 38.0797
    assert update_target(40.0, 0.75, **DEFAULTS) == pytest.approx(40 + 50 * np.tanh(0.5))  # 63.1059
    assert update_target(40.0, 0.5, **DEFAULTS) == 40.0
    assert update_target(10.0, 0.0, **DEFAULTS) == 0.0  # clipped at lo
    assert update_target(90.0, 1.0, **DEFAULTS) == 100.0  # clipped at hi


def test_select_closest_by_hand() -> None:
    d = np.array([0.0, 10.0, 20.0, 30.0, 40.0])
    assert sorted(select_closest(d, 18.0, 2, np.random.default_rng(0)).tolist()) == [1, 2]
    assert sorted(select_closest(d, 100.0, 3, np.random.default_rng(0)).tolist()) == [2, 3, 4]
    # ties rotate: all equal difficulties, different rows over steps
    rng = np.random.default_rng(1)
    flat = np.full(30, 50.0)
    seen = {i for _ in range(20) for i in select_closest(flat, 0.0, 3, rng).tolist()}
    assert len(seen) > 20


def test_transforms() -> None:
    np.testing.assert_allclose(
        transform_difficulty(["Level 1", "Level 3", "level 5", 2], "math_level"), [0, 50, 100, 25]
    )
    np.testing.assert_allclose(transform_difficulty([0.0, 0.25, 1.0], "pass_rate"), [100, 75, 0])
    np.testing.assert_allclose(transform_difficulty([0, 7, 3.5], "minmax"), [0, 100, 50])
    np.testing.assert_allclose(transform_difficulty([12.5], "identity"), [12.5])
    with pytest.raises(ValueError, match=r"no MATH level.*\[1\]"):
        transform_difficulty(["Level 2", "Level ?"], "math_level")
    with pytest.raises(ValueError, match=r"no difficulty value.*\[0\]"):
        transform_difficulty([None, 3], "identity")
    with pytest.raises(ValueError, match="identity needs values in"):
        transform_difficulty([150], "identity")
    with pytest.raises(ValueError, match="difficulty_transform"):
        transform_difficulty([1], "log")


def test_load_from_training_parquet_and_from_a_pass_rate_table(tmp_path) -> None:
    train = tmp_path / "train.parquet"
    pd.DataFrame({"extra_info": [{"index": i, "difficulty": d} for i, d in enumerate([0, 7, 3, 7])]}).to_parquet(train)
    np.testing.assert_allclose(
        load_difficulty(str(train), "extra_info.difficulty", "extra_info.index", "minmax", 4), [0, 100, 300 / 7, 100]
    )
    table = tmp_path / "train.pref.parquet"  # the pre-filter's table: orig_index, p_ref (index −1 rows are kept too)
    pd.DataFrame({"orig_index": [2, 0, 1], "index": [-1, 0, 1], "p_ref": [0.5, 1.0, 0.0]}).to_parquet(table)
    np.testing.assert_allclose(load_difficulty(str(table), "p_ref", "orig_index", "pass_rate", 3), [0, 100, 50])
    with pytest.raises(ValueError, match=r"no 'p_ref' for 1 of 4 training rows \(first rows: \[3\]\)"):
        load_difficulty(str(table), "p_ref", "orig_index", "pass_rate", 4)
    with pytest.raises(ValueError, match="no column 'level'"):
        load_difficulty(str(table), "level", "orig_index", "math_level", 3)
    no_key = tmp_path / "plain.parquet"
    pd.DataFrame({"extra_info": [{"index": 0}, {"index": 1}]}).to_parquet(no_key)
    with pytest.raises(ValueError, match=r"2 training rows have no difficulty value"):
        load_difficulty(str(no_key), "extra_info.difficulty", "extra_info.index", "identity", 2)
    cur = build_curriculum(
        "adarft", {"batch_size": 2, "n": 2, "difficulty_file": [str(train)], "difficulty_transform": "minmax"}, 4
    )
    np.testing.assert_allclose(cur.difficulty, [0, 100, 300 / 7, 100])
    with pytest.raises(ValueError, match="difficulty_file"):
        build_curriculum("adarft", {"batch_size": 2, "n": 2}, 4)


def test_run_follows_the_reward() -> None:
    d = np.linspace(0, 100, 101)
    rates = 1.0 - d / 100  # harder = less often solved
    cur = AdaRFTCurriculum(AdaRFTConfig(batch_size=4, n=8, seed=0), 101, difficulty=d)
    ctx = FakeRolloutContext(rates, seed=0)
    first = cur.run_step(ctx)
    assert first["adarft/target"] == 0.0
    assert sorted(ctx.record.calls[0][1].tolist()) == [0, 1, 2, 3]  # closest to T = 0
    trained = ctx.committed_with_rewards()
    mean = float(np.concatenate([g.rewards for g in trained]).mean())
    out = cur.observe(trained)
    assert out["adarft/next_target"] == pytest.approx(update_target(0.0, mean, **DEFAULTS))
    ctx.new_step()
    targets = []
    for _ in range(30):
        targets.append(cur.run_step(ctx)["adarft/target"])
        cur.observe(ctx.committed_with_rewards())
        ctx.new_step()
    assert 30 < np.mean(targets[-10:]) < 70  # settles where the success rate is about β = 0.5


def test_observe_without_rewards_keeps_the_target() -> None:
    cur = AdaRFTCurriculum(
        AdaRFTConfig(batch_size=1, n=2, target_init=30.0), 3, difficulty=np.array([0.0, 50.0, 100.0])
    )
    cur.observe([Group(handle="a", index=0, rewards=None)])
    assert cur.target == 30.0


def test_state_roundtrip_gives_identical_next_proposals() -> None:
    d = np.repeat(np.arange(8) * 100 / 7, 10)
    rates = 1.0 - d / 120
    for via in ("pickle", "torch"):
        a = AdaRFTCurriculum(AdaRFTConfig(batch_size=6, n=4, seed=1), d.size, difficulty=d)
        run_steps(a, FakeRolloutContext(rates, seed=0), 5)
        b = AdaRFTCurriculum(AdaRFTConfig(batch_size=6, n=4, seed=8), d.size, difficulty=d)
        b.load_state_dict(roundtrip_state(a.state_dict(), via))
        assert b.target == a.target
        out_a = run_steps(a, FakeRolloutContext(rates, seed=3), 6)
        out_b = run_steps(b, FakeRolloutContext(rates, seed=3), 6)
        assert [i.tolist() for i, _ in out_a] == [i.tolist() for i, _ in out_b]
    with pytest.raises(ValueError, match="pool of 80"):
        AdaRFTCurriculum(AdaRFTConfig(batch_size=2, n=2), 3, difficulty=np.zeros(3)).load_state_dict(a.state_dict())


@pytest.mark.parametrize(
    "params, match",
    [
        ({"difficulty_transform": "rank"}, "difficulty_transform"),
        ({"lo": 50.0, "hi": 10.0}, "lo < hi"),
        ({"target_init": 150.0}, "target_init"),
        ({"alpha": 0.0}, "alpha"),
    ],
)
def test_bad_config_names_the_key(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        AdaRFTConfig(**params)
