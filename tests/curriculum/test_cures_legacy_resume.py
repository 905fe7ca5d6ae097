"""A checkpoint written under the old single ``cures`` strategy is refused on resume, naming what replaced it."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf


@pytest.mark.parametrize(("mode", "new"), [("paper", "cures_online"), ("release", "cures_release")])
def test_trainer_resume_of_an_old_cures_checkpoint_names_the_new_strategy(tmp_path, monkeypatch, mode, new) -> None:
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

    from verl_ext.trainer.config import CurriculumSection
    from verl_ext.trainer.trainer import CurriculumTrainerSync

    # verl's own checkpoint loading (actor weights) is not under test: it just reports the resumed step
    monkeypatch.setattr(PPOTrainerSync, "_load_checkpoint", lambda self: setattr(self, "global_steps", 2))
    trainer = object.__new__(CurriculumTrainerSync)
    trainer.config = OmegaConf.create({"trainer": {"resume_mode": "auto", "default_local_dir": str(tmp_path)}})
    trainer.section = CurriculumSection(name=new, params={"tau": 0.1})
    trainer._fingerprint = lambda: {"name": new, "params": {"tau": 0.1}, "pool": 6, "index": "abc"}
    step_dir = tmp_path / "global_step_2"
    step_dir.mkdir()
    old = {"name": "cures", "params": {"mode": mode, "tau": 0.1}, "pool": 6, "index": "abc"}
    torch.save({"curriculum": {"mode": mode}, "global_steps": 2, "train_gen_seconds": 0.0, "fingerprint": old},
               step_dir / "curriculum_state.pt")  # fmt: skip
    with pytest.raises(ValueError, match=rf"curriculum.name='cures' with mode='{mode}'.*now the strategy '{new}'"):
        trainer._load_checkpoint()
