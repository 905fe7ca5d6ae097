"""Stop and keep without Ray: budget and retention settings, validation ranking, folder retention, and the trainer's
budget hooks on a trainer object whose verl parts are stubbed (the real loop runs in test_budget_e2e_on_cpu.py)."""

from __future__ import annotations

import inspect
import json
import logging
import math
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from verl_ext.trainer.config import check_trainer_config
from verl_ext.trainer.stopping import (
    BEST_FILE,
    StopSettings,
    apply_retention,
    checkpoint_steps,
    read_best,
    retention_plan,
    stop_settings,
    validation_score,
    write_best,
)


def _cfg(**over):
    base = {
        "run": {"budget_hours": 48, "keep_best_checkpoint": True, "best_metric": None},
        "trainer": {"max_actor_ckpt_to_keep": 2, "max_critic_ckpt_to_keep": "${trainer.max_actor_ckpt_to_keep}"},
        "actor_rollout_ref": {"actor": {"checkpoint": {"async_save": False}}},
    }
    cfg = OmegaConf.create(base)
    for key, value in over.items():
        OmegaConf.update(cfg, key, value, force_add=True)
    return cfg


# ------------------------------------------------------------------------------------------------ settings
def test_settings_read_from_config():
    s = stop_settings(_cfg())
    assert s == StopSettings(budget_hours=48.0, keep_last=2, keep_best=True, best_metric=None)
    assert s.budget_seconds == 48 * 3600.0
    assert not s.budget_reached(48 * 3600.0 - 1) and s.budget_reached(48 * 3600.0)
    assert stop_settings(_cfg(**{"run.budget_hours": 0.5})).budget_hours == 0.5
    unbounded = stop_settings(_cfg(**{"run.budget_hours": None, "trainer.max_actor_ckpt_to_keep": None}))
    assert unbounded.budget_seconds is None and not unbounded.budget_reached(1e12) and unbounded.keep_last is None
    # keys a config does not carry take the defaults (no budget, keep all, keep best)
    assert stop_settings(OmegaConf.create({"trainer": {}})) == StopSettings()


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("run.budget_hours", 0, r"run\.budget_hours=0: must be a positive number"),
        ("run.budget_hours", -2, r"run\.budget_hours=-2"),
        ("run.budget_hours", "48", r"run\.budget_hours='48'"),
        ("run.budget_hours", True, r"run\.budget_hours=True"),
        ("run.budget_hours", math.inf, r"run\.budget_hours=inf"),
        ("trainer.max_actor_ckpt_to_keep", 0, r"trainer\.max_actor_ckpt_to_keep=0: must be a positive integer"),
        ("trainer.max_actor_ckpt_to_keep", 1.5, r"trainer\.max_actor_ckpt_to_keep=1\.5"),
        ("trainer.max_critic_ckpt_to_keep", 3, r"max_actor_ckpt_to_keep=2 and trainer\.max_critic_ckpt_to_keep=3"),
        ("trainer.remove_previous_ckpt_in_save", True, r"remove_previous_ckpt_in_save=true is deprecated"),
        ("actor_rollout_ref.actor.checkpoint.async_save", True, r"async_save=true"),
        ("run.keep_best_checkpoint", "yes", r"run\.keep_best_checkpoint='yes': must be true or false"),
        ("run.best_metric", "mse", r"run\.best_metric='mse': must be a verl validation metric"),
    ],
)
def test_bad_settings_name_the_key(key, value, message):
    with pytest.raises(ValueError, match=message):
        stop_settings(_cfg(**{key: value}))


def test_entry_point_check_refuses_a_bad_budget():
    cfg = OmegaConf.create(
        {
            "curriculum": {"name": "uniform", "seed": 1, "max_gen_rounds": 10, "params": {}},
            "trainer": {"use_v1": True, "v1": {"trainer_mode": "sync"}, "max_actor_ckpt_to_keep": 2},
            "algorithm": {"filter_groups": {"enable": False}},
            "data": {"train_batch_size": 4, "dataloader_num_workers": 0, "filter_overlong_prompts": False},
            "actor_rollout_ref": {"rollout": {"n": 2}},
            "run": {"budget_hours": -1},
        }
    )
    with pytest.raises(ValueError, match=r"run\.budget_hours=-1"):
        check_trainer_config(cfg)


# ------------------------------------------------------------------------------------------------ validation rank
def test_validation_score_is_the_mean_core_accuracy_over_sets():
    metrics = {
        "val-core/math500/acc/mean@1": 0.8,
        "val-core/math500/reward/mean@1": 0.1,  # acc wins for a set that reports it
        "val-core/aime24/reward/mean@32": 0.2,  # reward when a set has no acc
        "val-aux/math500/acc/std@1": 9.0,
        "actor/loss": 5.0,
    }
    assert validation_score(metrics) == pytest.approx((0.8 + 0.2) / 2)
    assert validation_score(metrics, "val-aux/math500/acc/std@1") == 9.0
    assert validation_score({"actor/loss": 1.0}) is None  # no validation at this step
    with pytest.raises(KeyError, match=r"run\.best_metric='val-core/amc23/acc/mean@32' is not among"):
        validation_score(metrics, "val-core/amc23/acc/mean@32")


# ------------------------------------------------------------------------------------------------ retention
def test_retention_plan_keeps_newest_best_and_current():
    steps = [8, 16, 24, 32, 40]
    assert retention_plan(steps, 40, 2) == [8, 16, 24]
    assert retention_plan(steps, 40, 2, protect=[8]) == [16, 24]
    assert retention_plan(steps, 40, None, protect=[8]) == []  # null keeps all
    # resumed from step 16: 24..40 belong to an earlier run and are left alone; 16 is current
    assert retention_plan(steps, 16, 1) == [8]
    assert retention_plan([2, 4], 4, 1, protect=[4]) == [2]


def _step_dirs(root: Path, steps: list[int]) -> None:
    for s in steps:
        d = root / f"global_step_{s}"
        (d / "actor").mkdir(parents=True)
        (d / "pcl_value").mkdir()
        (d / "curriculum_state.pt").write_bytes(b"x")
        (d / "data.pt").write_bytes(b"x")


def test_apply_retention_removes_whole_step_folders(tmp_path, caplog):
    _step_dirs(tmp_path, [2, 4, 6, 8, 10])
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("8")
    (tmp_path / "global_step_x").mkdir()  # not a step folder: ignored
    with caplog.at_level(logging.INFO, logger="verl_ext.trainer.stopping"):
        removed = apply_retention(str(tmp_path), 8, 2, protect=[2])
    assert removed == [4]
    assert checkpoint_steps(str(tmp_path)) == [2, 6, 8, 10]
    assert not (tmp_path / "global_step_4").exists()  # actor, value model, state and data.pt all gone
    assert "newer than this run's step 8" in caplog.text  # step 10 left by an earlier run, untouched
    assert (tmp_path / "latest_checkpointed_iteration.txt").read_text() == "8"


def test_best_record_round_trip(tmp_path):
    assert read_best(str(tmp_path)) is None
    write_best(str(tmp_path), 16, 0.75, None)
    assert read_best(str(tmp_path))["step"] == 16
    assert json.loads((tmp_path / BEST_FILE).read_text())["score"] == 0.75


# ------------------------------------------------------------------------------------------------ trainer hooks
def test_verl_loop_still_ends_on_total_training_steps():
    """The budget stop lowers ``total_training_steps``; pin the loop condition and hooks it relies on."""
    from verl.trainer.ppo.v1.trainer_base import PPOTrainer
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

    src = inspect.getsource(PPOTrainer.fit)
    assert "self.global_steps <= self.total_training_steps" in src
    # step timer encloses on_step_begin, the save and on_step_end; validation and _compute_metrics come after
    order = ["self.on_step_begin()", "self._save_checkpoint()", "self.on_step_end()", "self._validate()",
             "self._compute_metrics("]  # fmt: skip
    loop = src[src.index("while current_epoch") :]
    positions = [loop.index(s) for s in order]
    assert positions == sorted(positions)
    assert list(inspect.signature(PPOTrainerSync.on_step_end).parameters) == ["self"]
    assert list(inspect.signature(PPOTrainer.on_step_begin).parameters) == ["self"]
    assert "max_actor_ckpt_to_keep" in inspect.getsource(PPOTrainer._save_checkpoint)


@pytest.fixture
def bare_trainer(monkeypatch, tmp_path):
    """A ``CurriculumTrainerSync`` without ``__init__``: config, step and clock only; verl's wake-up stubbed."""
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

    from verl_ext.trainer.trainer import CurriculumTrainerSync

    monkeypatch.setattr(PPOTrainerSync, "on_step_end", lambda self: None)
    trainer = CurriculumTrainerSync.__new__(CurriculumTrainerSync)
    trainer.config = _cfg(**{"run.budget_hours": 1.0, "trainer.save_freq": 5, "trainer.test_freq": -1,
                             "trainer.default_local_dir": str(tmp_path)})  # fmt: skip
    trainer.global_steps = 7
    trainer.total_training_steps = 100
    trainer._train_gen_seconds = 3500.0
    trainer.timing_raw = {}
    saves: list[int] = []
    trainer._save_checkpoint = lambda: saves.append(trainer.global_steps)
    return trainer, saves


def test_budget_stop_saves_once_and_ends_the_loop(bare_trainer, caplog, monkeypatch):
    trainer, saves = bare_trainer
    clock = iter([0.0, 50.0])  # step begins at t=0; on_step_end at t=50: 3500 + 50 s < 1 h
    monkeypatch.setattr("verl_ext.trainer.trainer.time.perf_counter", lambda: next(clock))
    trainer.on_step_begin()
    trainer.on_step_end()
    assert saves == [] and trainer.total_training_steps == 100 and not trainer._budget_stop

    trainer.global_steps, trainer._train_gen_seconds, trainer.timing_raw = 8, 3550.0, {}
    clock = iter([0.0, 60.0, 60.0, 61.0])  # 3550 + 60 >= 3600: the budget is reached at step 8
    trainer.on_step_begin()
    with caplog.at_level(logging.INFO, logger="verl_ext.trainer.trainer"):
        trainer.on_step_end()
    assert saves == [8]  # final checkpoint, timed as saving (outside the clock)
    assert trainer.timing_raw["save_checkpoint"] == pytest.approx(1.0)
    assert trainer.total_training_steps == 8 and trainer._budget_stop
    assert "stopping at step 8: run.budget_hours=1 reached (Time clock 1.0028 h" in caplog.text
    assert "final checkpoint" in caplog.text


def test_budget_stop_does_not_save_twice_or_without_save_freq(bare_trainer, monkeypatch, caplog):
    trainer, saves = bare_trainer
    trainer._train_gen_seconds = 3700.0
    trainer.timing_raw = {"save_checkpoint": 2.0}  # verl saved this step already
    trainer._saved_clock = (7, 3700.0)
    trainer.on_step_end()
    assert saves == [] and trainer.total_training_steps == 7

    trainer._budget_stop = False
    trainer.config.trainer.save_freq = -1
    trainer.timing_raw, trainer._saved_clock, trainer.total_training_steps = {}, None, 100
    with caplog.at_level(logging.INFO, logger="verl_ext.trainer.trainer"):
        trainer.on_step_end()
    assert saves == [] and trainer.total_training_steps == 7
    assert "no final checkpoint (trainer.save_freq=-1 disables saving)" in caplog.text


def test_worker_retention_is_off_only_during_the_save(bare_trainer):
    trainer, _ = bare_trainer
    with trainer._worker_retention_off():
        assert trainer.config.trainer.max_actor_ckpt_to_keep is None
        assert trainer.config.trainer.max_critic_ckpt_to_keep is None
    assert trainer.config.trainer.max_actor_ckpt_to_keep == 2 == trainer.config.trainer.max_critic_ckpt_to_keep


# ------------------------------------------------------------------------------------------------ disk need
@pytest.mark.parametrize("family", ["qwen3", "qwen2", "llama"])
@pytest.mark.parametrize("tied", [True, False])
def test_parameter_count_formula_matches_transformers(family, tied):
    """Architecture.params() against transformers' own count on tiny models of each family (LM and value head)."""
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForTokenClassification,
        LlamaConfig,
        Qwen2Config,
        Qwen3Config,
    )

    from verl_ext.trainer.disk import Architecture

    dims = dict(hidden_size=64, num_hidden_layers=2, intermediate_size=96, num_attention_heads=4,
                num_key_value_heads=2, vocab_size=320, tie_word_embeddings=tied)  # fmt: skip
    cls = {"qwen3": Qwen3Config, "qwen2": Qwen2Config, "llama": LlamaConfig}[family]
    extra = {"head_dim": 24} if family == "qwen3" else {}
    config = cls(**dims, **extra, num_labels=1)
    arch = Architecture(64, 2, 96, 4, 2, extra.get("head_dim", 16), 320, tied=tied, qkv_bias=family == "qwen2",
                        qk_norm=family == "qwen3")  # fmt: skip
    torch.manual_seed(0)
    assert arch.params() == AutoModelForCausalLM.from_config(config).num_parameters()
    assert arch.params(lm_head=False) == AutoModelForTokenClassification.from_config(config).num_parameters()


def test_disk_need_of_a_pcl_row():
    from verl_ext.trainer.disk import BYTES_PER_PARAM, disk_need

    cfg = _cfg(**{"run.hf_id": "Qwen/Qwen3-8B-Base", "trainer.save_freq": 8, "trainer.test_freq": 8,
                  "curriculum.value_model.enable": True,
                  "curriculum.value_model.model.path": "models/Qwen/Qwen3-8B-Base"})  # fmt: skip
    need = disk_need(cfg)
    assert need.policy_params == 8_190_735_360 and need.value_params == 7_568_409_601  # no LM head on V
    assert need.per_save == BYTES_PER_PARAM * (need.policy_params + need.value_params)
    assert need.folders == 3 and need.peak == 4 * need.per_save  # K = 2, the best, and the save in progress
    cfg.trainer.max_actor_ckpt_to_keep = None
    cfg.trainer.max_critic_ckpt_to_keep = None
    assert disk_need(cfg).peak is None  # retention off: unbounded
    cfg.trainer.save_freq = -1
    assert disk_need(cfg).peak == 0
    with pytest.raises(KeyError, match=r"run\.hf_id='org/unknown'"):
        disk_need(_cfg(**{"run.hf_id": "org/unknown"}))


def test_best_validation_checkpoint_survives_retention(bare_trainer):
    """K = 1: the best-scoring saved step stays beside the newest; a better one replaces it and frees the old."""
    trainer, _ = bare_trainer
    trainer.config.trainer.max_actor_ckpt_to_keep = 1
    trainer.config.trainer.max_critic_ckpt_to_keep = 1
    root = Path(trainer.config.trainer.default_local_dir)
    scores = {8: 0.5, 16: 0.7, 24: 0.6, 32: 0.65, 40: 0.9}
    for step, score in scores.items():
        trainer.global_steps = step
        _step_dirs(root, [step])
        trainer.timing_raw = {"save_checkpoint": 1.0}
        apply_retention(str(root), step, 1, [] if trainer._best_step() is None else [trainer._best_step()])
        trainer._track_best({"val-core/math500/acc/mean@1": score}, saved=True)
        if step == 32:
            assert checkpoint_steps(str(root)) == [16, 32]  # 24 gone, the best (16) kept beside the newest
    assert read_best(str(root))["step"] == 40 and checkpoint_steps(str(root)) == [40]
    # a validation at a step without a checkpoint never becomes "best" (there is nothing to keep)
    trainer.global_steps = 44
    trainer._track_best({"val-core/math500/acc/mean@1": 1.0}, saved=False)
    assert read_best(str(root))["step"] == 40
