"""Every recipe config routes rewards through the truncation-aware manager, loadable by verl's own resolver."""

import os

import pytest
from hydra import compose, initialize_config_dir

from verl_ext.trainer.config import check_trainer_config

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs")


@pytest.mark.parametrize("method", ["grpo", "cures", "pcl", "ds", "speed", "greso", "gvm", "probe"])
def test_recipe_config_reward_and_curriculum(method):
    from verl.trainer.ppo.reward import resolve_reward_manager_cls

    from verl_ext.rewards.manager import TruncationAwareRewardManager

    with initialize_config_dir(os.path.abspath(CONFIGS), version_base=None):
        cfg = compose(config_name=method)
    assert resolve_reward_manager_cls(cfg) is TruncationAwareRewardManager
    assert cfg.reward.custom_reward_function.path == "pkg://verl_ext.rewards.math_reward"
    assert check_trainer_config(cfg).name == cfg.curriculum.name
