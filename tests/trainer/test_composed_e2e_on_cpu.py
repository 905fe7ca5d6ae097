"""A composed curriculum (estimator × score × allocator from overrides alone) through the generic entry point
``python -m recipes.main --config-name=grpo +platform=cpu curriculum=composed ...`` on the CPU backend (demo assets,
2 steps), with the helpers of ``test_curricula_e2e_on_cpu.py``.

Thompson draws over ratio × m = 8 candidates, knapsack-value top-k, Neyman allocation: m = 4 prompts trained each step
with exactly m·n = 16 responses in groups of n_min = 2 to n_max = 8, the sizes reaching the advantage being the ones
the strategy logged.
"""

from __future__ import annotations

import pytest

import tests.trainer.test_curricula_e2e_on_cpu as E2E  # the shared e2e helpers

SMALL = ("data.train_batch_size=4", "actor_rollout_ref.rollout.n=4", "actor_rollout_ref.actor.ppo_mini_batch_size=4")


@pytest.mark.e2e
def test_composed_thompson_knapsack_value_neyman_trains(tmp_path):
    log = E2E._run(E2E._command(
        "grpo", tmp_path / "ckpt", None, 2, "curriculum=composed", *SMALL, "trainer.save_freq=-1",
        "curriculum.params.estimator=thompson", "curriculum.params.score=knapsack_value",
        "curriculum.params.allocator=neyman", "curriculum.params.ratio=2", "curriculum.params.n_max=8",
    ), tmp_path / "train.log")  # fmt: skip
    metrics, trained = E2E._metrics(log), E2E._trained(log)
    assert sorted(metrics) == [1, 2] and sorted(trained) == [1, 2]
    for step, m in metrics.items():
        sizes = [n for _, n in trained[step]]
        assert m["composed/candidates"] == 8 and len(sizes) == 4
        assert sum(sizes) == 16 == m["curriculum/responses"] and 2 <= min(sizes) and max(sizes) <= 8
        assert (min(sizes), max(sizes)) == (m["composed/n_min"], m["composed/n_max"])


@pytest.mark.e2e
def test_composed_value_estimator_uses_and_trains_pcls_value_model(tmp_path):
    """``preset=pcl`` (value estimator × distance top-k × fixed) with ``+value_model=pcl``: the value-prior capability
    attaches PCL's value worker group, V scores the ratio·m = 8 candidates in run_step and trains every step."""
    log = E2E._run(E2E._command(
        "grpo", tmp_path / "ckpt", None, 2, "curriculum=composed", "curriculum.params.preset=pcl",
        "curriculum.params.ratio=2", "+value_model=pcl", *SMALL, "trainer.save_freq=-1",
        "curriculum.value_model.optim.lr=1e-4", "curriculum.value_model.optim.betas=[0.0,0.999]",
    ), tmp_path / "train.log")  # fmt: skip
    metrics, trained = E2E._metrics(log), E2E._trained(log)
    assert sorted(metrics) == [1, 2] and sorted(trained) == [1, 2]
    for step, m in metrics.items():
        assert m["composed/candidates"] == 8 and sorted(n for _, n in trained[step]) == [4, 4, 4, 4]
        assert m["composed/prior/value_updates"] == 1.0 and m["composed/prior/value_targets"] == 4.0
    assert metrics[1]["composed/phat_selected_mean"] == 0.5  # the untrained head's V (head_init_value)
    assert metrics[2]["composed/phat_selected_mean"] != 0.5  # V after one update
