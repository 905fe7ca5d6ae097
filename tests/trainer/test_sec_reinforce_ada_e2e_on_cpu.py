"""SEC and Reinforce-Ada through the generic entry point
``python -m recipes.main --config-name=grpo +platform=cpu curriculum=<name>`` on the CPU backend (demo assets, 2 steps
each), with the helpers of ``test_curricula_e2e_on_cpu.py``.

- SEC: arms = the synthetic task's ``extra_info.difficulty`` (levels 0..7); the prompts that reached the advantage
  are, arm by arm, the counts SEC reports (``sec/drawn/<arm>``), all n responses each.
- Reinforce-Ada (balanced, n = 4, round_n = 4, max_rounds = 2): prompts without a 2-2 split are extended by 4 more
  responses in the same group and trimmed back to 4 in TransferQueue; every group reaches the advantage with 4.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tests.trainer.test_curricula_e2e_on_cpu as E2E  # the shared e2e helpers (as the budget/nested e2e do)


@pytest.mark.e2e
def test_sec_trains_the_arms_it_draws(tmp_path):
    from verl_ext.testing.assets import build_demo_assets

    log = E2E._run(E2E._command(
        "grpo", tmp_path / "ckpt", None, 2, "curriculum=sec",
        "data.train_batch_size=4", "actor_rollout_ref.rollout.n=4", "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "trainer.save_freq=-1", "curriculum.params.arm_key=extra_info.difficulty",
    ), tmp_path / "train.log")  # fmt: skip
    metrics, trained = E2E._metrics(log), E2E._trained(log)
    assert sorted(metrics) == [1, 2] and sorted(trained) == [1, 2]
    frame = pd.read_parquet(build_demo_assets().train)
    level = {int(e["index"]): str(e["difficulty"]) for e in frame["extra_info"]}
    arms = sorted(set(level.values()))
    for step, m in metrics.items():
        pairs = trained[step]
        assert len(pairs) == 4 and {n for _, n in pairs} == {4}, pairs
        drawn = {a: sum(level[i] == a for i, _ in pairs) for a in arms}
        assert drawn == {a: m[f"sec/drawn/{a}"] for a in arms}, (drawn, m)
        assert m["sec/arms_drawn"] == sum(v > 0 for v in drawn.values())
        probs = np.array([m[f"sec/p/{a}"] for a in arms])
        assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    # step 1 draws from the uniform policy (Q = 0); after it, only the arms trained at step 1 may have moved
    assert [metrics[1][f"sec/p/{a}"] for a in arms] == pytest.approx([1 / len(arms)] * len(arms), abs=1e-5)
    step1 = {level[i] for i, _ in trained[1]}
    for a in arms:
        q = metrics[1][f"sec/q/{a}"]
        assert q >= 0.0 and (q == 0.0 or a in step1), (a, q, step1)


@pytest.mark.e2e
def test_reinforce_ada_extends_active_prompts_and_trains_groups_of_n(tmp_path):
    log = E2E._run(E2E._command(
        "grpo", tmp_path / "ckpt", None, 2, "curriculum=reinforce_ada",
        "data.train_batch_size=4", "actor_rollout_ref.rollout.n=4", "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "trainer.save_freq=-1",
        "curriculum.params.mode=balanced", "curriculum.params.round_n=4", "curriculum.params.max_rounds=2",
    ), tmp_path / "train.log")  # fmt: skip
    metrics, trained = E2E._metrics(log), E2E._trained(log)
    assert sorted(metrics) == [1, 2] and sorted(trained) == [1, 2]
    for step, m in metrics.items():
        # every group reached the advantage with n = 4 responses: extended ones (8 collected) were trimmed to 4
        assert len(trained[step]) == 4 and {n for _, n in trained[step]} == {4}, trained[step]
        assert m["curriculum/group_size_min"] == m["curriculum/group_size_max"] == 4
        active2 = m.get("reinforce_ada/active_round_2", 0.0)
        assert m["reinforce_ada/rounds"] == 1 + (active2 > 0)
        assert m["curriculum/responses"] == 4 * 4 + 4 * active2 == m["reinforce_ada/responses"]
        assert m["reinforce_ada/kept"] == 16 and m["reinforce_ada/dropped"] == 4 * active2
        assert m["reinforce_ada/finished"] + m["reinforce_ada/unfinished"] == 4
    # a 2-2 split of 4 responses is rare for the tiny policy: some prompt needed a second round
    assert max(m["reinforce_ada/rounds"] for m in metrics.values()) == 2
