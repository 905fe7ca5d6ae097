"""Equal rollout budgets, declared needs and the not-run list of the arena's simulated mode (small pool, short runs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from verl_ext.arena.harness import ArenaSettings, run_arena
from verl_ext.arena.needs import plan_curriculum
from verl_ext.arena.simulator import SimSettings, SimulatedLearner
from verl_ext.curriculum.base import Curriculum, get_curriculum_class, list_curricula

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "curriculum"
SMALL = SimSettings(num_prompts=3000, heldout=200, levels=4, clusters=40, subsets=3)


@pytest.fixture(scope="module")
def arena(tmp_path_factory):
    # budget 20 uniform steps of m·n = 64; every registered curriculum, one seed
    settings = ArenaSettings(batch_size=8, n=8, steps=20, sim=SMALL)
    out = tmp_path_factory.mktemp("arena")
    results, not_run = run_arena(None, [1], settings, CONFIGS, out)
    return settings, results, not_run


def test_every_registered_curriculum_runs_or_is_listed_with_a_reason(arena):
    _, results, not_run = arena
    ran = {r.name for r in results}
    assert ran | set(not_run) == set(list_curricula()) and not ran & set(not_run)
    assert all(reason for reason in not_run.values())
    assert {"uniform", "pcl", "mopps", "knapsack", "sec", "adarft", "reinforce_ada", "ds"} <= ran


def test_budget_accounting_is_equal_across_curricula(arena):
    settings, results, _ = arena
    budget = settings.rollout_budget
    assert budget == 20 * 8 * 8
    for r in results:
        steps = np.diff(r.rollouts)
        assert r.rollouts[-1] <= budget, r.name
        assert np.all(steps > 0), r.name
        if r.stop.startswith("budget"):
            # the discarded step would have crossed the budget: what is left is less than that step
            crossing = int(r.stop.split("reach ")[1].split(" ")[0])
            assert crossing > budget and crossing - r.rollouts[-1] > budget - r.rollouts[-1], r.name
    by_name = {r.name: r for r in results}
    assert by_name["uniform"].rollouts[-1] == budget and len(by_name["uniform"].rollouts) == 21
    assert by_name["knapsack"].rollouts[-1] == budget  # exactly m·n a step, allocated unevenly
    assert len(by_name["ds"].rollouts) < 21  # screening costs DS steps at the same budget
    assert max(by_name["ds"].screened) > 0 and by_name["uniform"].screened == [0.0] * 20


def test_per_step_records_and_health(arena):
    _, results, _ = arena
    by_name = {r.name: r for r in results}
    uni = by_name["uniform"]
    assert len(uni.accuracy) == len(uni.rollouts) and uni.accuracy[-1] > uni.accuracy[0]
    for e, w in zip(uni.effective_ratio, uni.wasted, strict=True):
        assert e == pytest.approx(1.0 - w)  # equal group sizes: wasted responses = share of zero-advantage groups
    assert uni.health["coverage"] == pytest.approx(20 * 8 / SMALL.num_prompts)
    shares = uni.health["seen_lt_0.05"] + uni.health["seen_between"] + uni.health["seen_gt_0.95"]
    assert shares == pytest.approx(1.0)
    # calibration rows only for strategies that predict p (Curriculum.predicted_success overridden)
    for r in results:
        if get_curriculum_class(r.name).predicted_success is Curriculum.predicted_success:
            assert r.calib is None, r.name
    assert by_name["pcl"].calib is not None and uni.calib is None
    assert uni.alloc is None  # equal group sizes: no allocation to plot
    assert any("value oracle" in n for n in by_name["pcl"].notes)


def test_allocation_recorded_once_a_strategy_allocates(tmp_path):
    # 64 prompts, m = 8: knapsack revisits prompts after 8 steps and then allocates unequal n_i from its posterior
    tiny = SimSettings(num_prompts=64, heldout=16, levels=4, clusters=8, subsets=2)
    (res,), _ = run_arena(["knapsack"], [1], ArenaSettings(batch_size=8, n=8, steps=30, sim=tiny), CONFIGS, tmp_path)
    assert res.alloc is not None and res.alloc_source == "strategy's p-hat"
    assert res.alloc[:, 1].min() < 8 < res.alloc[:, 1].max() and np.all((res.alloc[:, 0] >= 0) & (res.alloc[:, 0] <= 1))
    assert res.calib is not None


def test_same_seed_same_result(tmp_path):
    settings = ArenaSettings(batch_size=8, n=4, steps=10, sim=SMALL)
    a, _ = run_arena(["mopps"], [2], settings, CONFIGS, tmp_path)
    b, _ = run_arena(["mopps"], [2], settings, CONFIGS, tmp_path)
    assert a[0].accuracy == b[0].accuracy and a[0].rollouts == b[0].rollouts


def test_needs_provide_data_fields_and_refuse_offline_tables(tmp_path):
    pool = SimulatedLearner(SMALL, 1).write_pool(tmp_path / "pool.parquet")
    ada = plan_curriculum("adarft", CONFIGS, pool, 3, {})
    assert ada.reason is None and ada.params["difficulty_file"] == str(pool)
    sec = plan_curriculum("sec", CONFIGS, pool, 3, {})
    assert sec.params["arm_file"] == str(pool) and sec.params["arm_key"] == "extra_info.level"
    # budget 30000 rollouts at m·n = 64, pilots of 4 x 3000 prompts: M = ceil((30000 - 12000) / (3 x 64)) = 94
    alg1 = plan_curriculum("cures_algorithm1", CONFIGS, pool, 3, {}, budget=(30000, 64), num_prompts=3000)
    assert alg1.params["sigma"] == "bernoulli" and alg1.attach_subsets and alg1.params["num_subsets"] == 3
    assert alg1.params["steps_per_subset"] == 94 and any("gradient norms" in n for n in alg1.notes)
    assert "release_table" in plan_curriculum("cures_release", CONFIGS, pool, 3, {}).reason
    assert "pilot_path" in plan_curriculum("gvm", CONFIGS, pool, 3, {}).reason
    assert "offline" in plan_curriculum("prefilter", CONFIGS, pool, 3, {}).reason
    assert plan_curriculum("knapsack", CONFIGS, pool, 3, {"n_max": 16}).params["n_max"] == 16
    with pytest.raises(ValueError, match="n_maxx"):
        plan_curriculum("knapsack", CONFIGS, pool, 3, {"n_maxx": 16})


def test_arena_refuses_unknown_names_and_settings(tmp_path):
    with pytest.raises(ValueError, match="unknown curricula"):
        run_arena(["nope"], [1], ArenaSettings(sim=SMALL), CONFIGS, tmp_path)
    with pytest.raises(ValueError, match="below one step"):
        ArenaSettings(batch_size=8, n=8, budget=10)
