"""``curriculum=composed`` composes through Hydra from overrides alone and builds the configured parts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from omegaconf import DictConfig, OmegaConf

from verl_ext.trainer.config import CurriculumSection, build_from_config


def _build(cfg: DictConfig):  # noqa: ANN202 - the strategy
    section = OmegaConf.to_container(cfg.curriculum)
    assert isinstance(section, dict)
    section.pop("_target_")
    section.pop("value_model", None)
    return build_from_config(CurriculumSection(**section), batch_size=8, n=8, num_prompts=256)


def test_new_method_from_overrides_alone(compose_cfg: Callable[..., DictConfig]) -> None:
    cfg = compose_cfg(
        "grpo",
        "curriculum=composed",
        "curriculum.params.estimator=thompson",
        "curriculum.params.score=knapsack_value",
        "curriculum.params.allocator=neyman",
    )
    cur = _build(cfg)
    assert cur.config.composition() == "thompson x knapsack_value/topk x neyman"
    assert (cur.config.n_min, cur.config.n_max, cur.config.ratio) == (2, 32, 4)


def test_preset_with_a_swapped_part(compose_cfg: Callable[..., DictConfig]) -> None:
    cfg = compose_cfg("grpo", "curriculum=composed", "curriculum.params.preset=cures_online",
                      "curriculum.params.allocator=knapsack")  # fmt: skip
    cur = _build(cfg)
    assert cur.config.composition() == "beta x cures/softmax x knapsack"
    assert cur.config.candidates == "pool" and cur.config.cold_n is None  # read by neyman only: dropped
    assert cur.config.n_max == 32  # the preset's ceiling stays (knapsack reads it too)


def test_unknown_part_names_the_key_and_valid_values(compose_cfg: Callable[..., DictConfig]) -> None:
    cfg = compose_cfg("grpo", "curriculum=composed", "curriculum.params.allocator=uniform")
    with pytest.raises(ValueError, match=r"curriculum.params.allocator='uniform' is unknown; valid: fixed, neyman"):
        _build(cfg)


def test_value_prior_override_and_the_pre_ray_check(compose_cfg: Callable[..., DictConfig]) -> None:
    from verl_ext.trainer.config import check_trainer_config

    cfg = compose_cfg("grpo", "curriculum=composed", "curriculum.params.preset=mopps",
                      "curriculum.params.prior={source: value_model}", "+value_model=pcl")  # fmt: skip
    check_trainer_config(cfg)
    cur = _build(cfg)
    assert cur.config.prior is not None and cur.config.prior.source == "value_model"
    bare = compose_cfg("grpo", "curriculum=composed", "curriculum.params.preset=pcl")
    with pytest.raises(ValueError, match=r"\+value_model=pcl"):
        check_trainer_config(bare)
