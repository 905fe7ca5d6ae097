"""PCL's ``curriculum.value_model`` has one typed node, checked once by ``check_trainer_config``."""

from __future__ import annotations

from typing import Any

import pytest
from omegaconf import OmegaConf


def _pcl(compose_cfg: Any, recipe: str = "pcl") -> Any:
    cfg = OmegaConf.create(OmegaConf.to_container(compose_cfg(recipe)))
    OmegaConf.set_readonly(cfg, False)
    return cfg


def test_pcl_value_model_is_typed(compose_cfg: Any) -> None:
    from verl_ext.trainer.config import ValueModelSection, check_trainer_config, value_model_section

    cfg = _pcl(compose_cfg)
    node = value_model_section(cfg)
    assert isinstance(node, ValueModelSection)
    assert (node.enable, node.head_activation, node.head_init_value) == (True, "none", 0.5)
    assert node.critic["optim"]["lr"] == 1e-6 and "enable" not in node.critic  # the critic-schema rest
    assert check_trainer_config(cfg).name == "pcl"
    assert value_model_section(_pcl(compose_cfg, "grpo")) is None  # the other recipes have none


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [("head_activation", "tanh", "head_activation='tanh'; valid: none, sigmoid"),
     ("head_init_value", "high", "head_init_value='high'"),
     ("enable", "yes", "enable must be true or false")],
)  # fmt: skip
def test_bad_value_model_key_is_refused_naming_it(compose_cfg: Any, key: str, value: str, match: str) -> None:
    from verl_ext.trainer.config import check_trainer_config

    cfg = _pcl(compose_cfg)
    cfg.curriculum.value_model[key] = value
    with pytest.raises(ValueError, match=f"curriculum.value_model.{match}"):
        check_trainer_config(cfg)


def test_sigmoid_head_needs_an_initial_value_in_the_open_interval(compose_cfg: Any) -> None:
    from verl_ext.trainer.config import value_model_section

    cfg = _pcl(compose_cfg)
    cfg.curriculum.value_model.head_activation = "sigmoid"
    cfg.curriculum.value_model.head_init_value = 1.0
    with pytest.raises(ValueError, match="in \\(0, 1\\) with head_activation=sigmoid"):
        value_model_section(cfg)
    cfg.curriculum.value_model.head_init_value = None
    assert value_model_section(cfg).head_init_value is None  # type: ignore[union-attr]
