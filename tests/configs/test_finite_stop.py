"""Every composed experiment stops and keeps a bounded number of checkpoints (issue: runs never stop).

PCL trains each run for a time budget (2 days, 3 for Qwen3-8B-Base on DeepScaleR; its "Time" clock), CurES for a step
count (150 steps; release-mode and GVM iterations 10): each overlay composed with Hydra must carry that stop, with
the checkpoint retention of configs/common.yaml, and a finite disk need (verl_ext/trainer/disk.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
EXPERIMENTS = sorted(
    str(p.relative_to(CONFIGS / "experiment").with_suffix("")) for p in CONFIGS.glob("experiment/*/*.yaml")
)


def _params() -> list[Any]:
    """The first row of every (table, recipe) runs by default; the others are marked slow (about 1 s a compose)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for name in EXPERIMENTS:
        recipe = str(OmegaConf.load(CONFIGS / "experiment" / f"{name}.yaml")["run"]["recipe"])
        key = (name.split("/")[0], recipe)
        out.append(pytest.param(name, recipe, id=name, marks=() if key not in seen else (pytest.mark.slow,)))
        seen.add(key)
    return out


def test_every_published_row_is_checked() -> None:
    # the 190 published rows (tests/configs/test_paper_configs.py checks the mapping) plus project variants
    assert len(EXPERIMENTS) >= 190


@pytest.mark.parametrize("experiment, recipe", _params())
def test_experiment_has_a_finite_stop_and_bounded_checkpoints(experiment: str, recipe: str, compose_cfg: Any) -> None:
    from verl_ext.trainer.disk import disk_need
    from verl_ext.trainer.stopping import stop_settings

    cfg = compose_cfg(recipe, f"experiment={experiment}")
    stop = stop_settings(cfg)  # the entry point's validation of the keys
    trainer = cfg.trainer
    steps = trainer.total_training_steps
    # a finite stop: a step count, or the epoch cap (total_epochs x steps per epoch) together with a time budget
    assert isinstance(trainer.total_epochs, int) and 1 <= trainer.total_epochs <= 1000, trainer.total_epochs
    assert (isinstance(steps, int) and steps >= 1) or stop.budget_hours is not None, (steps, stop)
    if cfg.run.paper in ("pcl", "peers", "nested"):  # PCL (and peers/nested runs in its setting): wall-clock budget
        expected = 72.0 if cfg.run.dataset == "deepscaler" and cfg.run.model == "qwen3-8b-base" else 48.0
        assert stop.budget_hours == expected and steps is None
    else:  # CurES: 150 steps, or 10 per release-mode / GVM iteration
        assert steps in (150, 10) and stop.budget_hours is None
    # bounded checkpoints: saved periodically, K newest kept (+ the best by validation when validation runs)
    assert trainer.save_freq > 0 and trainer.test_freq > 0
    assert stop.keep_last == trainer.max_critic_ckpt_to_keep and 1 <= stop.keep_last <= 3
    assert stop.keep_best is True
    need = disk_need(cfg)
    assert need.folders == stop.keep_last + 1 and need.peak == (need.folders + 1) * need.per_save
    assert (need.value_params > 0) == (recipe == "pcl")
