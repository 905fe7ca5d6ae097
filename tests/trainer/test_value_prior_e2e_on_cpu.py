"""PCL's value model as the Beta prior (docs/value_prior.md), through the entry point on the CPU backend.

CurES Algorithm 1: 12 synthetic prompts in 2 equal subsets, M = 2 steps per subset, 3 steps, m = 8 draws, n = 4
(N = 32), ``sigma: bernoulli``, ``prior.source: value_model`` with the value model of ``+value_model=pcl`` (PCL e2e's
lr 1e-4, β1 = 0). From the run's own log and checkpoint:

- no pilot rollouts: every step generates exactly the training budget (``curriculum/responses`` = 32 = Σ n_i of the
  groups that reached the advantage) and ``cures/pilot`` is 0;
- the prior is used where a subset starts: 6 prompts scored at steps 1 and 3, none at step 2; at step 1 the untrained
  head gives V = 0.5 everywhere (head_init_value), at step 3 a value model trained twice gives other values;
- the value model takes one optimizer step every step (``cures/prior/value_updates`` = 1, a finite loss);
- the checkpoint holds subset 2's prior-seeded counts (its prompts' priors, subset 1 reset) and the value model.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.trainer.test_curricula_e2e_on_cpu import _command, _metrics, _run, _series, _subset, _trained


@pytest.mark.e2e
def test_cures_algorithm1_value_prior_skips_the_pilot(tmp_path):
    from verl_ext.testing.assets import build_demo_assets

    train = _subset(build_demo_assets().train, tmp_path / "train.parquet", {0: 4, 4: 4, 7: 4})
    ckpt = tmp_path / "ckpt"
    cmd = _command(
        "cures", ckpt, train, 3,
        "curriculum=cures_algorithm1", "+value_model=pcl", "curriculum.params.prior.source=value_model",
        "curriculum.params.sigma=bernoulli", "curriculum.params.subsets=equal", "curriculum.params.num_subsets=2",
        "curriculum.params.steps_per_subset=2", "curriculum.params.n_min=2", "curriculum.params.n_max=8",
        "data.train_batch_size=8", "actor_rollout_ref.rollout.n=4", "actor_rollout_ref.actor.ppo_mini_batch_size=8",
        "trainer.save_freq=3",
        "curriculum.value_model.optim.lr=1e-4", "curriculum.value_model.optim.betas=[0.0,0.999]",
    )  # fmt: skip
    log = _run(cmd, tmp_path / "run.log")
    metrics = _metrics(log)
    assert sorted(metrics) == [1, 2, 3]
    trained = _trained(log)
    for s in (1, 2, 3):
        assert metrics[s]["curriculum/responses"] == 32 and sum(n for _, n in trained[s]) == 32, s
        assert metrics[s]["cures/pilot"] == 0.0 and "cures/pilot_responses" not in metrics[s]
        assert metrics[s]["cures/prior/value_updates"] == 1.0 and np.isfinite(metrics[s]["cures/prior/value_loss"])
    assert _series(metrics, "cures/prior/prompts") == [6.0, 0.0, 6.0]
    assert metrics[1]["cures/prior/v_mean"] == 0.5 and metrics[1]["cures/prior/mean"] == 0.5  # the untrained head
    assert metrics[3]["cures/prior/v_mean"] != 0.5  # scored by the value model trained at steps 1 and 2
    assert metrics[3]["cures/evidence_subset"] == pytest.approx(0.0)  # the prior only, no pilot counts
    assert all(6 <= i < 12 for i, _ in trained[3])

    step_dir = ckpt / "global_step_3"
    post = torch.load(step_dir / "curriculum_state.pt", weights_only=False)["curriculum"]["posterior"]
    assert post["has_prior"].tolist() == [False] * 6 + [True] * 6
    np.testing.assert_allclose(post["prior_alpha"][6:] + post["prior_beta"][6:], 2.0)  # strength c = 2
    evidence = post["alpha"] + post["beta"] - post["prior_alpha"] - post["prior_beta"]
    assert evidence[:6].sum() == 0 and evidence[6:].sum() == pytest.approx(32)  # step 3's counts on the prior
    assert (step_dir / "pcl_value" / "param_digest.json").is_file()


@pytest.mark.e2e
def test_mopps_value_prior_scores_each_candidate_pool(tmp_path):
    """MoPPS, 2 steps, m = 4 of ratio·m = 8 candidates: each step's 8 fresh candidates get their prior (step 1: the
    untrained head's V = 0.5; step 2: V after one update), and the value model trains every step."""
    cmd = _command(
        "grpo", tmp_path / "ckpt", None, 2,
        "curriculum=mopps", "curriculum.params.ratio=2", "+value_model=pcl",
        "curriculum.params.prior.source=value_model", "data.train_batch_size=4", "actor_rollout_ref.rollout.n=4",
        "actor_rollout_ref.actor.ppo_mini_batch_size=4", "trainer.save_freq=-1",
        "curriculum.value_model.optim.lr=1e-4", "curriculum.value_model.optim.betas=[0.0,0.999]",
    )  # fmt: skip
    metrics = _metrics(_run(cmd, tmp_path / "run.log"))
    assert sorted(metrics) == [1, 2]
    assert _series(metrics, "mopps/prior/prompts") == [8.0, 8.0]
    assert _series(metrics, "curriculum/responses") == [16.0, 16.0]
    assert _series(metrics, "mopps/prior/value_updates") == [1.0, 1.0]
    assert metrics[1]["mopps/prior/v_mean"] == 0.5 and metrics[2]["mopps/prior/v_mean"] != 0.5
