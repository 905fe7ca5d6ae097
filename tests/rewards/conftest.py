"""Reward tests share one small worker pool with the test hooks (injected hang / crash) switched on."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from verl_ext.rewards import math_reward
from verl_ext.rewards.verify_worker import TEST_HOOKS_ENV


@pytest.fixture(scope="session", autouse=True)
def reward_pool_env() -> Iterator[None]:
    """Two workers (the CI machine has 2 cores), hooks on; workers inherit the environment when spawned."""
    saved = {k: os.environ.get(k) for k in (TEST_HOOKS_ENV, "VERL_EXT_REWARD_WORKERS")}
    os.environ[TEST_HOOKS_ENV] = "1"
    os.environ["VERL_EXT_REWARD_WORKERS"] = "2"
    math_reward.reset_pool()
    yield
    math_reward.reset_pool()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def ready_pool() -> math_reward.VerifyPool:
    """The process-wide pool with every worker started, so timings exclude start-up."""
    pool = math_reward.pool()
    pool.warm_up()
    return pool
