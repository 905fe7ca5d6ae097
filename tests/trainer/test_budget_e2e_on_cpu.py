"""A run stops on its time budget, writes its final checkpoint and resumes from it (CPU backend, GRPO entry point).

Three processes of ``python -m recipes.main --config-name=grpo +platform=cpu`` on the demo assets share one
checkpoint folder:

1. a 10-step run with ``run.budget_hours`` = 10 s of the Time clock and ``save_freq`` = 100 (never due): it stops at
   the step whose training + generation time reaches 10 s (step 1 or 2 on two cores), logs why, and writes that
   step's checkpoint (the budget's own save), with the clock in ``curriculum_state.pt``;
2. the same command again (e.g. a requeued job): the budget is spent, so it stops at once, trains nothing, writes
   nothing, and says how to continue;
3. the same command with the budget raised: it resumes the checkpoint's step and clock and trains to step s + 2,
   saving every step with ``max_actor_ckpt_to_keep=1``, so only the last step folder is left (the retention also
   removes the step folder written by the earlier process, which verl's own retention never sees).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from tests.trainer.test_curricula_e2e_on_cpu import _command, _metrics, _run

# three trainer processes share the module fixture: on two busy cores each takes up to about 5 minutes
pytestmark = pytest.mark.timeout(3000)
BUDGET_S = 10.0
STOP_LINE = re.compile(r"stopping at step (\d+): run\.budget_hours=(\S+) reached \(Time clock ([\d.]+) h")


def _grpo(ckpt: Path, budget_hours: float, steps: int, *extra: str) -> list[str]:
    return _command(
        "grpo", ckpt, None, steps,
        "data.train_batch_size=4", "actor_rollout_ref.rollout.n=4", "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        f"run.budget_hours={budget_hours}", *extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def budget_runs(tmp_path_factory) -> dict:
    """The three runs; what each left on disk is read before the next one runs (run 3's retention deletes it)."""
    tmp = tmp_path_factory.mktemp("budget")
    ckpt = tmp / "ckpt"
    tracker = ckpt / "latest_checkpointed_iteration.txt"
    hours = BUDGET_S / 3600.0
    out: dict = {"ckpt": ckpt}
    out["first"] = _run(_grpo(ckpt, hours, 10, "trainer.save_freq=100"), tmp / "first.log")
    out["tracker"] = tracker.read_text().strip()
    step_dir = ckpt / f"global_step_{out['tracker']}"
    out["first_state"] = torch.load(step_dir / "curriculum_state.pt", weights_only=False)
    out["first_actor"] = (step_dir / "actor").is_dir()
    out["first_folders"] = sorted(p.name for p in ckpt.glob("global_step_*"))
    out["spent"] = _run(_grpo(ckpt, hours, 10, "trainer.save_freq=100"), tmp / "spent.log")
    out["tracker_after_spent"] = tracker.read_text().strip()
    out["folders_after_spent"] = sorted(p.name for p in ckpt.glob("global_step_*"))
    stop = int(out["tracker"])
    out["extended"] = _run(
        _grpo(ckpt, 1.0, stop + 2, "trainer.save_freq=1", "trainer.max_actor_ckpt_to_keep=1"), tmp / "extended.log"
    )
    return out


@pytest.mark.e2e
def test_budget_stops_the_run_with_a_final_checkpoint(budget_runs):
    first, tracker = budget_runs["first"], budget_runs["tracker"]
    found = STOP_LINE.findall(first)
    assert len(found) == 1, first[-5000:]
    step, hours, clock_h = int(found[0][0]), float(found[0][1]), float(found[0][2])
    assert hours == pytest.approx(BUDGET_S / 3600.0, rel=1e-5) and clock_h * 3600.0 >= BUDGET_S - 0.5
    metrics = _metrics(first)
    assert sorted(metrics) == list(range(1, step + 1)) and step < 10  # stopped early, on the budget
    assert metrics[step]["time/budget_stop"] == 1.0 and metrics[step]["time/budget_used"] >= 1.0
    assert all("time/budget_stop" not in m for s, m in metrics.items() if s < step)
    # the budget's own save (save_freq 100 is never due): verl's tracker and our state with the clock
    assert tracker == str(step) and budget_runs["first_folders"] == [f"global_step_{step}"]
    state = budget_runs["first_state"]
    assert state["global_steps"] == step and state["train_gen_seconds"] >= BUDGET_S - 0.5
    assert budget_runs["first_actor"]


@pytest.mark.e2e
def test_resume_with_the_budget_spent_stops_at_once(budget_runs):
    tracker, spent = budget_runs["tracker"], budget_runs["spent"]
    assert re.search(rf"run\.budget_hours=\S+ already spent at step {tracker} ", spent), spent[-5000:]
    assert "override run.budget_hours with a larger value to continue" in spent
    assert _metrics(spent) == {}  # no step trained, no validation
    assert budget_runs["tracker_after_spent"] == tracker  # nothing saved
    assert budget_runs["folders_after_spent"] == budget_runs["first_folders"]


@pytest.mark.e2e
def test_raised_budget_resumes_the_clock_and_keeps_one_checkpoint(budget_runs):
    extended, ckpt = budget_runs["extended"], budget_runs["ckpt"]
    stop = int(budget_runs["tracker"])
    assert re.search(rf"curriculum state restored from \S+global_step_{stop}", extended)
    metrics = _metrics(extended)
    assert sorted(metrics) == [stop + 1, stop + 2]  # continued, not restarted
    saved = torch.load(ckpt / f"global_step_{stop + 2}" / "curriculum_state.pt", weights_only=False)
    # the clock went on from the budget checkpoint's (>= 10 s), never back to 0
    assert metrics[stop + 1]["time/train_gen_hours"] * 3600.0 > BUDGET_S
    assert saved["train_gen_seconds"] > metrics[stop + 1]["time/train_gen_hours"] * 3600.0
    # retention K = 1 over whole folders: the earlier process's global_step_<stop> went too
    assert sorted(p.name for p in ckpt.glob("global_step_*")) == [f"global_step_{stop + 2}"]
    assert (ckpt / "latest_checkpointed_iteration.txt").read_text().strip() == str(stop + 2)
    assert not (ckpt / "best_checkpoint.json").exists()  # no validation in these runs: nothing ranked


@pytest.mark.e2e
def test_checkpoint_bytes_per_parameter(budget_runs):
    """The disk-need model (verl_ext/trainer/disk.py): verl's FSDP shards hold 12 bytes per trained parameter."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from verl_ext.testing.assets import build_demo_assets
    from verl_ext.trainer.disk import BYTES_PER_PARAM

    (step_dir,) = budget_runs["ckpt"].glob("global_step_*")
    actor = step_dir / "actor"
    shards = [p for p in actor.iterdir() if p.name.startswith(("model_world_size", "optim_world_size"))]
    assert shards, sorted(p.name for p in actor.iterdir())
    params = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(build_demo_assets().policy)).num_parameters()
    ratio = sum(p.stat().st_size for p in shards) / params
    (step_dir.parent / "bytes_per_param.json").write_text(json.dumps({"params": params, "ratio": ratio}))
    assert ratio == pytest.approx(BYTES_PER_PARAM, rel=0.05), ratio
