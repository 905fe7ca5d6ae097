"""CurES through our own entry point on the CPU backend.

- ``cures_online`` (the recipe's default strategy): 2 steps, curriculum metrics, curriculum state.
- ``cures_algorithm1`` (the paper's Algorithm 1): 2 subsets × 2 steps on 12 synthetic prompts, m = 8 draws, n = 4:
  pilot of every prompt of the subset at steps 1 and 3, estimates reset at step 3, draws with replacement (8 draws from
  6 prompts always repeat), Σ n_i = N = 32 at every step (checked on the groups that reached the advantage), and the
  gradnorm σ computed from pilot gradient norms measured on the actor worker (moments in the checkpoint, σ ≠ the
  Bernoulli σ of the same posterior).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.trainer.test_curricula_e2e_on_cpu import _metrics, _run

ROOT = Path(__file__).resolve().parents[2]
TRAINS_LINE = re.compile(r"curriculum step (\d+) trains index:size ([\d: ]+)\n")


def _command(ckpt: Path, train: str, steps: int, *overrides: str) -> list[str]:
    from verl_ext.testing.assets import build_demo_assets

    assets = build_demo_assets()
    return [
        sys.executable, "-m", "recipes.main", "--config-name=cures", "+platform=cpu",
        f"actor_rollout_ref.model.path={assets.policy}",
        f"data.train_files={train}", f"data.val_files={assets.val}",
        "data.max_prompt_length=64", "data.max_response_length=24",
        f"trainer.total_training_steps={steps}", "trainer.total_epochs=100", "trainer.val_before_train=false",
        "trainer.test_freq=-1", f"trainer.save_freq={steps}", "trainer.logger=[console]",
        f"trainer.default_local_dir={ckpt}",
        *overrides,
    ]  # fmt: skip


@pytest.mark.e2e
def test_cures_online_two_steps_through_recipes_main(tmp_path):
    from verl_ext.testing.assets import build_demo_assets

    assets = build_demo_assets()
    ckpt = tmp_path / "ckpt"
    cmd = _command(
        ckpt, str(assets.train), 2,
        "data.train_batch_size=4", "actor_rollout_ref.rollout.n=4", "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "curriculum.params.n_min=2", "curriculum.params.pilot_n=2", "curriculum.params.n_max=8",
    )  # fmt: skip
    log = _run(cmd, tmp_path / "run.log")
    steps = re.findall(r"step:(\d+) - .*", log)
    assert steps[-1] == "2"
    for name in ("cures/select_s", "cures/rho_entropy", "curriculum/effective_ratio", "time/train_gen_hours"):
        assert f"{name}:" in log, name
    state = torch.load(ckpt / "global_step_2" / "curriculum_state.pt", weights_only=False)
    assert state["global_steps"] == 2 and state["fingerprint"]["name"] == "cures_online"
    assert (ckpt / "latest_checkpointed_iteration.txt").read_text().strip() == "2"


@pytest.mark.e2e
def test_cures_algorithm1_two_subsets_with_gradnorm(tmp_path):
    from verl_ext.data.contract import write_dataset
    from verl_ext.testing.assets import build_demo_assets

    assets = build_demo_assets()
    df = pd.read_parquet(assets.train)
    difficulty = np.array([e["difficulty"] for e in df["extra_info"]])
    rows = np.concatenate([np.flatnonzero(difficulty == d)[:4] for d in (0, 4, 7)])
    rows = rows[np.random.default_rng(0).permutation(rows.size)]  # each subset mixes difficulties
    sub = df.iloc[rows].reset_index(drop=True)
    sub["extra_info"] = [dict(e, index=i) for i, e in enumerate(sub["extra_info"])]
    train = write_dataset(sub, tmp_path / "train.parquet")
    ckpt = tmp_path / "ckpt"
    cmd = _command(
        ckpt, str(train), 4,
        "curriculum=cures_algorithm1", "data.train_batch_size=8", "actor_rollout_ref.rollout.n=4",
        "actor_rollout_ref.actor.ppo_mini_batch_size=8",
        "curriculum.params.subsets=equal", "curriculum.params.num_subsets=2", "curriculum.params.steps_per_subset=2",
        "curriculum.params.sigma=gradnorm", "curriculum.params.n_min=2", "curriculum.params.n_max=8",
    )  # fmt: skip
    log = _run(cmd, tmp_path / "run.log")
    metrics = _metrics(log)
    assert sorted(metrics) == [1, 2, 3, 4], sorted(metrics)
    pilot = {s: metrics[s]["cures/pilot"] for s in metrics}
    assert pilot == {1: 1.0, 2: 0.0, 3: 1.0, 4: 0.0}
    for s in (1, 3):  # every prompt of the subset, N' = 4 each, all measured on the actor
        assert metrics[s]["cures/pilot_prompts"] == 6 and metrics[s]["cures/pilot_responses"] == 24
        assert metrics[s]["cures/gradnorm_measured"] == 24 and metrics[s]["cures/gradnorm_mean"] > 0
    assert [metrics[s]["cures/subset"] for s in (1, 2, 3, 4)] == [1, 1, 2, 2]
    # reset at step 3: only subset 2's pilot is in the posterior; step 2 still held subset 1's pilot + step 1
    assert metrics[3]["cures/evidence_subset"] == 24 and metrics[3]["cures/evidence_other"] == 0
    assert metrics[2]["cures/evidence_subset"] == 24 + 32 and metrics[2]["cures/evidence_other"] == 0
    trained = {
        int(s): [tuple(int(x) for x in p.split(":")) for p in body.split()] for s, body in TRAINS_LINE.findall(log)
    }
    for s in (1, 2, 3, 4):
        assert metrics[s]["cures/draws"] == 8 and metrics[s]["cures/draw_repeats"] >= 2  # with replacement
        assert metrics[s]["cures/train_responses"] == 32
        sizes = trained[s]
        assert sum(n for _, n in sizes) == 32  # Σ n_i = N reached the advantage (pilot not trained)
        assert len({i for i, _ in sizes}) == len(sizes) == 8 - metrics[s]["cures/draw_repeats"]  # one group a prompt
        lo, hi = (0, 6) if s <= 2 else (6, 12)
        assert all(lo <= i < hi for i, _ in sizes), (s, sizes)
        assert metrics[s]["cures/sigma_mean"] != pytest.approx(metrics[s]["cures/sigma_bernoulli_mean"], rel=1e-3)
    state = torch.load(ckpt / "global_step_4" / "curriculum_state.pt", weights_only=False)
    assert state["fingerprint"]["name"] == "cures_algorithm1" and state["curriculum"]["subset"] == 2
    moments = state["curriculum"]["moments"]["moments"]
    measured = ~(np.isnan(moments[0]) & np.isnan(moments[2]))
    assert measured[6:].all() and not measured[:6].any()  # subset 2's pilot moments; subset 1's were reset
