"""Curriculum registry, build_curriculum and Group (verl_ext/curriculum/base.py)."""

from __future__ import annotations

import numpy as np
import pytest

from verl_ext.curriculum.base import (
    Curriculum,
    CurriculumConfig,
    Group,
    build_curriculum,
    get_curriculum_class,
    list_curricula,
    register_curriculum,
)
from verl_ext.curriculum.testing import FakeRolloutContext


def test_builtin_names_registered() -> None:
    names = list_curricula()
    for name in ("uniform", "cures_algorithm1", "cures_online", "cures_release", "pcl", "probe"):
        assert name in names
        assert get_curriculum_class(name).name == name


def test_unknown_name_and_option_errors_list_valid_choices() -> None:
    with pytest.raises(ValueError, match="valid names: .*cures_online"):
        get_curriculum_class("curse")
    with pytest.raises(ValueError, match=r"no option\(s\) \['taus'\].*tau"):
        build_curriculum("cures_online", {"taus": 0.1}, 100)


def test_base_config_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match="train_batch_size"):
        CurriculumConfig(batch_size=0)
    with pytest.raises(ValueError, match="rollout.n"):
        CurriculumConfig(n=0)
    with pytest.raises(ValueError, match="train_files"):
        build_curriculum("uniform", {}, 0)


def test_register_conflict() -> None:
    class Dummy(Curriculum):
        def run_step(self, ctx):  # noqa: ANN001, ANN201
            return {}

        def state_dict(self):  # noqa: ANN201
            return {}

        def load_state_dict(self, state):  # noqa: ANN001, ANN201
            return None

    with pytest.raises(ValueError, match="already registered"):
        register_curriculum("uniform")(Dummy)


def test_group_properties() -> None:
    g = Group("h", 3, np.array([1.0, 0.2, 0.6]))
    assert (g.n, g.successes) == (3, 2)
    assert (Group("h", 3).n, Group("h", 3).successes) == (0, 0)


def test_fake_context_contract() -> None:
    ctx = FakeRolloutContext(np.array([0.0, 1.0, 0.5]), seed=0)
    gen = ctx.generate(np.array([0, 1]), np.array([2, 3]))
    assert gen[0].rewards.tolist() == [0.0, 0.0] and gen[1].rewards.tolist() == [1.0, 1.0, 1.0]
    assert all(len(g.handle) == 32 and "_" not in g.handle for g in gen)
    ext = ctx.extend(gen[:1], 2)
    assert ext[0].handle == gen[0].handle and ext[0].n == 4
    sub = ctx.submit(np.array([2]), 5)
    assert sub[0].rewards is None and ctx.group(sub[0].handle).n == 5
    ctx.release(gen[1:])
    with pytest.raises(ValueError, match="released"):
        ctx.commit(gen[1:])
    ctx.commit(gen[:1] + sub)
    with pytest.raises(RuntimeError, match="twice"):
        ctx.commit(sub)
    assert [g.handle for g in ctx.committed_with_rewards()] == [gen[0].handle, sub[0].handle]
    assert [g.handle for g in ctx.screened_with_rewards()] == [gen[1].handle]
    assert (ctx.rounds, ctx.responses) == (3, 12)
    with pytest.raises(NotImplementedError):
        ctx.score(np.array([0]))
    with pytest.raises(ValueError, match="indices"):
        ctx.generate(np.array([3]), 1)
    with pytest.raises(ValueError, match="n >= 1"):
        ctx.submit(np.array([0]), 0)
    ctx.new_step()
    assert ctx.step == 2 and ctx.committed == [] and ctx.responses == 0 and ctx.total_responses == 12
    # same seed, same calls → same rewards and handles
    again = FakeRolloutContext(np.array([0.0, 1.0, 0.5]), seed=0)
    assert [g.handle for g in again.generate(np.array([0, 1]), np.array([2, 3]))] == [g.handle for g in gen]
