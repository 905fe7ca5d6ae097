"""MoPPS, knapsack allocation and AdaRFT through the generic entry point
``python -m recipes.main --config-name=grpo +platform=cpu curriculum=<name>`` on the CPU backend (demo assets,
2 steps each), with the helpers of ``test_curricula_e2e_on_cpu.py``.

- MoPPS: a candidate pool of ratio × m = 8 prompts per step, m = 4 trained with n = 4 responses each.
- Knapsack: 4 prompts (levels 0, 3, 3, 7), all rolled out every step: step 1 gives the default n to every unseen
  prompt; step 2 allocates from step 1's outcomes, exactly m·n responses in groups of >= n_min, the sizes reaching the
  advantage being the ones the strategy chose (all-wrong / all-right prompts at n_min = 2).
- AdaRFT: the synthetic task's ``extra_info.difficulty`` (levels 0..7, minmax to 0-100); step 1 trains level-0
  prompts (T = 0), step 2 the level closest to the target moved by step 1's mean reward.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tests.trainer.test_curricula_e2e_on_cpu as E2E  # the shared e2e helpers (as the budget/nested e2e do)

SMALL = ("data.train_batch_size=4", "actor_rollout_ref.rollout.n=4", "actor_rollout_ref.actor.ppo_mini_batch_size=4")


@pytest.mark.e2e
def test_mopps_trains_m_of_its_candidate_pool(tmp_path):
    log = E2E._run(E2E._command(
        "grpo", tmp_path / "ckpt", None, 2, "curriculum=mopps", *SMALL,
        "trainer.save_freq=-1", "curriculum.params.ratio=2",
    ), tmp_path / "train.log")  # fmt: skip
    metrics, trained = E2E._metrics(log), E2E._trained(log)
    assert sorted(metrics) == [1, 2] and sorted(trained) == [1, 2]
    for step, m in metrics.items():
        assert m["mopps/candidates"] == 8 and m["curriculum/prompts_rolled_out"] == 4
        assert sorted(n for _, n in trained[step]) == [4, 4, 4, 4]
        assert 0.0 <= m["mopps/ptilde_selected_mean"] <= 1.0
    assert metrics[1]["mopps/frac_seen_selected"] == 0.0  # nothing observed before step 1


@pytest.mark.e2e
def test_knapsack_allocates_the_exact_budget_from_past_rewards(tmp_path):
    from verl_ext.testing.assets import build_demo_assets

    train = E2E._subset(build_demo_assets().train, tmp_path / "train.parquet", {0: 1, 3: 2, 7: 1})
    log = E2E._run(E2E._command(
        "grpo", tmp_path / "ckpt", train, 2, "curriculum=knapsack", *SMALL,
        "trainer.save_freq=-1", "curriculum.params.n_max=10",
    ), tmp_path / "train.log")  # fmt: skip
    metrics, trained = E2E._metrics(log), E2E._trained(log)
    assert sorted(metrics) == [1, 2] and sorted(trained) == [1, 2]
    assert sorted(trained[1]) == [(i, 4) for i in range(4)]  # every prompt unseen: the default n
    assert metrics[1]["knapsack/frac_cold"] == 1.0 and metrics[2]["knapsack/frac_cold"] == 0.0
    sizes = [n for _, n in trained[2]]
    m2 = metrics[2]
    assert sum(sizes) == 16 == m2["curriculum/responses"] and min(sizes) >= 2 and max(sizes) <= 10
    assert (min(sizes), max(sizes)) == (m2["knapsack/n_min"], m2["knapsack/n_max"])
    n_info = round(4 * m2["knapsack/frac_info"])
    if n_info * 10 + (4 - n_info) * 2 >= 16:  # the informative prompts absorb the budget: the others stay at n_min
        assert sizes.count(2) >= 4 - n_info, (sizes, m2)


@pytest.mark.e2e
def test_adarft_moves_the_target_with_the_reward(tmp_path):
    from verl_ext.testing.assets import build_demo_assets

    frame = pd.read_parquet(build_demo_assets().train)
    level = {int(e["index"]): int(e["difficulty"]) for e in frame["extra_info"]}
    top = max(level.values())
    log = E2E._run(E2E._command(
        "grpo", tmp_path / "ckpt", None, 2, "curriculum=adarft", *SMALL, "trainer.save_freq=-1",
    ), tmp_path / "train.log")  # fmt: skip
    metrics, trained = E2E._metrics(log), E2E._trained(log)
    assert sorted(metrics) == [1, 2] and sorted(trained) == [1, 2]
    assert metrics[1]["adarft/target"] == 0.0 and {level[i] for i, _ in trained[1]} == {0}
    reward = metrics[1]["adarft/mean_reward"]
    target = float(np.clip(50.0 * np.tanh(2.0 * (reward - 0.5)), 0.0, 100.0))
    assert metrics[1]["adarft/next_target"] == pytest.approx(target, abs=1e-3)
    assert metrics[2]["adarft/target"] == pytest.approx(target, abs=1e-3)
    closest = min(range(top + 1), key=lambda d: abs(100.0 * d / top - target))
    assert {level[i] for i, _ in trained[2]} == {closest}
    assert all(n == 4 for _, n in trained[1] + trained[2])
