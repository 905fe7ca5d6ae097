"""The value-prior wiring without Ray (docs/value_prior.md): which extensions a strategy declares for its params, the
composite of two, PCL's value group trained online behind a Beta strategy, and the checks before Ray starts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.workers.test_pcl_extension import POOL, FakeHandle, FakeValue, _index
from verl_ext.curriculum import build_curriculum
from verl_ext.curriculum.base import Group
from verl_ext.curriculum.testing import FakeRolloutContext
from verl_ext.trainer.extension import CompositeExtension, build_extension, declared_extensions
from verl_ext.workers.gradnorm_extension import CuresGradNormExtension
from verl_ext.workers.pcl_extension import PCLExtension
from verl_ext.workers.value_prior_extension import ValuePriorExtension

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PRIOR = {"prior": {"source": "value_model"}}


def test_declared_extensions_follow_the_prior() -> None:
    assert build_extension("mopps", {}) is None
    assert build_extension("cures_online", {"prior": {"source": "none"}}) is None
    assert isinstance(build_extension("mopps", PRIOR), ValuePriorExtension)
    assert isinstance(build_extension("cures_algorithm1", {}), CuresGradNormExtension)
    both = build_extension("cures_algorithm1", PRIOR)
    assert isinstance(both, CompositeExtension)
    assert [type(p) for p in both.parts] == [CuresGradNormExtension, ValuePriorExtension]
    assert type(build_extension("pcl")) is PCLExtension  # PCL's own extension is untouched
    assert declared_extensions("uniform", PRIOR) == []  # no capability: params cannot add an extension


class Recorder:
    def __init__(self, name: str, log: list[str], metrics: dict[str, float]) -> None:
        self.name, self.log, self.metrics = name, log, metrics

    def setup(self, handle) -> None:
        self.log.append(f"{self.name}.setup")

    def load(self, handle, step_dir) -> None:
        self.log.append(f"{self.name}.load")

    def save(self, handle, step_dir) -> None:
        self.log.append(f"{self.name}.save")

    def on_init_end(self, handle) -> None:
        self.log.append(f"{self.name}.on_init_end")

    def after_step(self, handle, trained) -> dict[str, float]:
        self.log.append(f"{self.name}.after_step")
        return dict(self.metrics)

    def score(self, indices) -> np.ndarray:
        self.log.append(f"{self.name}.score")
        return np.zeros(len(indices))


def test_composite_runs_every_hook_in_order_and_scores_with_the_last() -> None:
    log: list[str] = []
    comp = CompositeExtension([Recorder("a", log, {"x/a": 1.0}), Recorder("b", log, {"x/b": 2.0})])
    comp.setup(None)
    comp.load(None, "d")
    comp.on_init_end(None)
    assert comp.after_step(None, []) == {"x/a": 1.0, "x/b": 2.0}
    comp.save(None, "d")
    comp.score(np.arange(3))
    assert log == [f"{p}.{h}" for h in ("setup", "load", "on_init_end", "after_step", "save") for p in "ab"] + [
        "b.score"
    ]
    clash = CompositeExtension([Recorder("a", [], {"x/k": 1.0}), Recorder("b", [], {"x/k": 2.0})])
    with pytest.raises(RuntimeError, match=r"\['x/k'\]"):
        clash.after_step(None, [])


class FakeCheckpointManager:
    def __init__(self, log: list[tuple]) -> None:
        self.log = log

    def sleep_replicas(self) -> None:
        self.log.append(("sleep",))

    def update_weights(self, global_steps: int) -> None:
        self.log.append(("update_weights", global_steps))


@pytest.fixture
def prior_setup() -> tuple[ValuePriorExtension, FakeHandle, FakeValue, list[tuple]]:
    handle, value, log = FakeHandle(), FakeValue(), []
    handle.curriculum = build_curriculum("mopps", {"batch_size": 2, "n": 4, "seed": 1, "ratio": 2, **PRIOR}, POOL)
    handle.checkpoint_manager = FakeCheckpointManager(log)
    ext = ValuePriorExtension()
    ext.attach(handle, value)
    value.calls = log  # one log for the value group's and the checkpoint manager's calls, in order
    return ext, handle, value, log


def test_prior_extension_selects_nothing_and_trains_on_the_step(prior_setup) -> None:
    ext, handle, value, log = prior_setup
    ext.on_init_end(handle)
    assert log == []  # no PCL pick
    handle.global_steps = 1
    trained = [Group("u1", 3, np.array([1.0, 0.0, 1.0, 1.0])), Group("u2", 7, np.array([0.0, 0.0, 0.0, 1.0]))]
    metrics = ext.after_step(handle, trained)
    (kind, (ids, targets)), = log  # fmt: skip
    assert kind == "train" and [_index(p) for p in ids] == [3, 7] and targets == [0.75, 0.25]  # ȳ, PCL Alg. 1 line 8
    assert metrics["mopps/prior/value_loss"] == 0.25 and metrics["mopps/prior/value_grad_norm"] == 1.5
    assert metrics["mopps/prior/value_updates"] == 1.0 and metrics["mopps/prior/value_targets"] == 2.0
    assert not [k for k in metrics if k.startswith(("pcl/", "curriculum/"))]
    empty = ext.after_step(handle, [])
    assert empty["mopps/prior/value_updates"] == 0.0 and "mopps/prior/value_loss" not in empty


def test_prior_extension_scores_with_the_rollout_asleep(prior_setup) -> None:
    ext, handle, value, log = prior_setup
    handle.global_steps = 4
    ctx = FakeRolloutContext(np.full(POOL, 0.5), seed=0, value_fn=ext.score, start_step=4)
    metrics = handle.curriculum.run_step(ctx)
    assert [entry[0] for entry in log] == ["sleep", "score", "update_weights"] and log[-1] == ("update_weights", 4)
    scored = sorted(_index(p) for p in log[1][1])
    assert metrics["mopps/prior/prompts"] == 4.0 and len(scored) == 4
    expected = np.mean([FakeValue.value_of([0, 48 + i // 10, 48 + i % 10]) for i in scored])
    assert metrics["mopps/prior/v_mean"] == pytest.approx(expected)


def _compose(*overrides: str):
    from verl_ext.trainer.preflight import compose

    return compose(CONFIGS, "cures", list(overrides))


def test_value_model_group_equals_pcls_node_and_is_checked_before_ray() -> None:
    from verl_ext.trainer.config import check_trainer_config
    from verl_ext.trainer.preflight import compose

    good = ("curriculum=cures_algorithm1", "+value_model=pcl", "curriculum.params.prior.source=value_model",
            "curriculum.params.sigma=bernoulli")  # fmt: skip
    cfg = _compose(*good)
    pcl = compose(CONFIGS, "pcl", [])
    assert OmegaConf.to_container(cfg.curriculum.value_model) == OmegaConf.to_container(pcl.curriculum.value_model)
    assert check_trainer_config(cfg).params["prior"]["source"] == "value_model"
    with pytest.raises(ValueError, match=r"needs PCL's value model: add \+value_model=pcl"):
        check_trainer_config(_compose(*(o for o in good if o != "+value_model=pcl")))
    with pytest.raises(ValueError, match="nothing would use the value model"):
        check_trainer_config(_compose("curriculum=mopps", "+value_model=pcl"))
    with pytest.raises(ValueError, match="sigma='gradnorm'"):
        check_trainer_config(_compose(*good[:3]))
    with pytest.raises(ValueError, match="cold_start=prior"):
        check_trainer_config(_compose("+value_model=pcl", "curriculum.params.prior.source=value_model"))


def test_a_value_estimator_without_the_value_model_is_refused_naming_the_estimator() -> None:
    from verl_ext.trainer.config import check_trainer_config

    with pytest.raises(ValueError, match=r"estimator=value needs PCL's value model.*choose another estimator"):
        check_trainer_config(_compose("curriculum=composed", "curriculum.params.estimator=value"))
    with pytest.raises(ValueError, match=r"estimator=value \(from preset=pcl\) needs PCL's value model"):
        check_trainer_config(_compose("curriculum=composed", "curriculum.params.preset=pcl"))
