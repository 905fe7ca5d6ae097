"""The reward's defaults: per-item timeout = math-verify's own, pool sized from the CPUs this process may use."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator

import pytest

from verl_ext.rewards import math_reward


def test_default_timeout_is_math_verify_own_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from math_verify import parse, verify

    monkeypatch.delenv("VERL_EXT_REWARD_TIMEOUT", raising=False)
    assert inspect.signature(parse).parameters["parsing_timeout"].default == 5
    assert inspect.signature(verify).parameters["timeout_seconds"].default == 5
    assert math_reward.default_timeout() == 5.0
    monkeypatch.setenv("VERL_EXT_REWARD_TIMEOUT", "2.5")
    assert math_reward.default_timeout() == 2.5


@pytest.mark.parametrize(("cpus", "expected"), [(1, 1), (2, 2), (6, 6), (8, 8), (64, 8), (256, 8)])
def test_default_pool_size_follows_cpus_capped(cpus: int, expected: int) -> None:
    assert math_reward.default_num_workers(cpus) == expected


def test_available_cpus_is_the_affinity_mask() -> None:
    if hasattr(os, "sched_getaffinity"):
        assert math_reward.available_cpus() == len(os.sched_getaffinity(0))
    assert math_reward.default_num_workers() == min(math_reward.MAX_DEFAULT_WORKERS, math_reward.available_cpus())


@pytest.fixture
def fresh_pool() -> Iterator[None]:
    math_reward.reset_pool()
    yield
    math_reward.reset_pool()  # the next test gets the session's pool settings back


def test_pool_without_the_variable_has_the_default_size(monkeypatch: pytest.MonkeyPatch, fresh_pool: None) -> None:
    monkeypatch.delenv("VERL_EXT_REWARD_WORKERS", raising=False)
    assert math_reward.pool().num_workers == math_reward.default_num_workers()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("VERL_EXT_REWARD_WORKERS", "four", "VERL_EXT_REWARD_WORKERS='four' is not a valid int"),
        ("VERL_EXT_REWARD_WORKERS", "0", "VERL_EXT_REWARD_WORKERS='0' must be >= 1"),
        ("VERL_EXT_REWARD_MAX_MEMORY_MB", "-1", "VERL_EXT_REWARD_MAX_MEMORY_MB='-1' must be >= 0"),
    ],
)
def test_bad_pool_variables_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, fresh_pool: None, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        math_reward.pool()


def test_bad_timeout_variable_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERL_EXT_REWARD_TIMEOUT", "0")
    with pytest.raises(ValueError, match="VERL_EXT_REWARD_TIMEOUT='0' must be >= 0.001"):
        math_reward.default_timeout()
