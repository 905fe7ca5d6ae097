"""The nested configs compose against verl's schema, pick one correction variant each, and are refused when the
correction keys and the named variant disagree."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from verl_ext.nested.controller import nested_config
from verl_ext.nested.correction import VARIANTS
from verl_ext.nested.vllm_plugin import WORKER_EXTENSION

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="module")
def compose_grpo():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        yield lambda *o: compose(config_name="grpo", overrides=list(o))
    GlobalHydra.instance().clear()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_correction_variant_composes_and_validates(compose_grpo, variant: str) -> None:
    cfg = compose_grpo("+nested=r05", f"nested_correction={variant}", "actor_rollout_ref.rollout.name=hf")
    nc = nested_config(cfg)
    assert nc is not None and nc.correction == variant and nc.schedule.skip_ratio == 0.5
    assert nc.schedule.seed == cfg.seed and cfg.actor_rollout_ref.rollout.calculate_log_probs is True
    rc = cfg.algorithm.rollout_correction
    assert all(rc[k] == v for k, v in VARIANTS[variant].items())


def test_default_is_token_tis_and_r0_is_the_full_model(compose_grpo) -> None:
    cfg = compose_grpo("+nested=r0", "actor_rollout_ref.rollout.name=hf")
    nc = nested_config(cfg)
    assert nc.correction == "token_tis" and nc.schedule.skip_ratio == 0.0
    assert nc.curriculum_feedback == "importance_weighted"
    assert nested_config(compose_grpo()) is None  # without +nested: no controller


def test_disagreeing_correction_keys_and_unknown_keys_are_refused(compose_grpo) -> None:
    cfg = compose_grpo(
        "+nested=r05", "actor_rollout_ref.rollout.name=hf", "algorithm.rollout_correction.rollout_is=null"
    )
    with pytest.raises(ValueError, match="rollout_is=None"):
        nested_config(cfg)
    cfg = compose_grpo("+nested=r05", "actor_rollout_ref.rollout.name=hf", "+nested.schedule.stride=2")
    with pytest.raises(ValueError, match=r"unknown keys \['stride'\]"):
        nested_config(cfg)
    cfg = compose_grpo("+nested=r05", "actor_rollout_ref.rollout.name=sglang")
    with pytest.raises(ValueError, match="rollout.name in"):
        nested_config(cfg)
    cfg = compose_grpo("+nested=r05", "actor_rollout_ref.rollout.name=vllm")
    with pytest.raises(ValueError, match="worker_extension_cls=verl_ext.nested.vllm_plugin.NestedWorkerExtension"):
        nested_config(cfg)


@pytest.mark.parametrize("ratio", ["025", "05"])
def test_experiment_overlays_are_vllm_ready_and_not_paper_rows(compose_grpo, ratio: str) -> None:
    cfg = compose_grpo(f"experiment=nested/qwen3-8b-base_nested_r{ratio}")
    nc = nested_config(cfg)  # includes the vLLM eager / no-compile checks
    assert nc.schedule.skip_ratio == {"025": 0.25, "05": 0.5}[ratio]
    assert cfg.run.paper == "nested" and "not a paper row" in cfg.run.row
    assert cfg.actor_rollout_ref.rollout.name == "vllm" and cfg.data.train_batch_size == 512
    assert cfg.actor_rollout_ref.rollout.n == 16 and cfg.run.budget_hours == 48
    assert cfg.actor_rollout_ref.rollout.engine_kwargs.vllm.worker_extension_cls == WORKER_EXTENSION


def test_the_dry_run_validation_runs_the_nested_checks(compose_grpo) -> None:
    from verl_ext.trainer.runner import validate

    validate(compose_grpo("experiment=nested/qwen3-8b-base_nested_r05"), dry_run=True)
    cfg = compose_grpo("experiment=nested/qwen3-8b-base_nested_r05", "actor_rollout_ref.rollout.enforce_eager=false")
    with pytest.raises(ValueError, match="enforce_eager=true"):
        validate(cfg, dry_run=True)
