"""The ``curriculum:`` config namespace, validated before Ray starts.

Every recipe config (``configs/<method>.yaml``) composes verl's ``ppo_trainer`` and adds one ``curriculum:`` section::

    curriculum:
      _target_: verl_ext.trainer.config.CurriculumSection
      name: cures_online     # a registered curriculum (verl_ext.curriculum.list_curricula()) or module:Class
      seed: ${seed}          # the one top-level seed
      max_gen_rounds: 10     # bound on generation rounds within a step (DS, SPEED, GRESO, probe)
      rollout_timeout_s: 3600  # bound on one wait for rollouts; raises naming the step, prompts and replicas
      state_file: curriculum_state.pt
      params: {...}          # the strategy's own hyper-parameters (fields of its config dataclass)

The keys shared by every strategy (``_target_``, ``seed``, ``max_gen_rounds``, ``rollout_timeout_s``, ``state_file``)
are set once, in ``configs/common.yaml``; a group file ``configs/curriculum/<name>.yaml`` holds ``name``, ``params``
and only the shared keys it changes (docs/configs.md). ``batch_size`` (m), ``n``, ``seed`` and ``max_gen_rounds`` of
a strategy are derived (:func:`derived_params`), never repeated under ``params``. PCL's prompt-value model is
``curriculum.value_model``: verl's critic schema plus PCL's own keys, typed by :class:`ValueModelSection`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from verl.base_config import BaseConfig

from verl_ext.curriculum import Curriculum, build_curriculum, get_curriculum_class, list_curricula
from verl_ext.curriculum.value_prior import check_value_model_use
from verl_ext.trainer.stopping import StopSettings, stop_settings

__all__ = [
    "CurriculumSection",
    "StopSettings",
    "ValueModelSection",
    "build_from_config",
    "check_trainer_config",
    "derived_params",
    "stop_settings",
    "value_model_section",
]

# Filled by the trainer, never by the user, so a value under ``params`` would silently disagree with verl's.
_DERIVED = ("batch_size", "n", "seed", "max_gen_rounds")


@dataclasses.dataclass
class CurriculumSection(BaseConfig):
    """Typed view of ``config.curriculum`` (see module docstring)."""

    name: str = "uniform"
    seed: int = 1
    max_gen_rounds: int = 10
    rollout_timeout_s: float = 3600.0
    state_file: str = "curriculum_state.pt"
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        valid = list_curricula()
        if ":" not in self.name and self.name not in valid:
            raise ValueError(
                f"curriculum.name={self.name!r} is not a registered curriculum; valid: {', '.join(valid)}, "
                "or 'module:Class' of a Curriculum subclass defined outside verl_ext"
            )
        get_curriculum_class(self.name)  # imports a 'module:Class' name; the error names what failed
        clash = sorted(set(self.params) & set(_DERIVED))
        if clash:
            raise ValueError(
                f"curriculum.params sets {clash}, which the trainer derives: set data.train_batch_size (m), "
                "actor_rollout_ref.rollout.n (n), the top-level seed, or curriculum.max_gen_rounds instead"
            )
        if self.max_gen_rounds < 1:
            raise ValueError(f"curriculum.max_gen_rounds must be >= 1, got {self.max_gen_rounds}")
        timeout = self.rollout_timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < float("inf"):
            raise ValueError(
                f"curriculum.rollout_timeout_s must be a finite number of seconds > 0 (default 3600), got {timeout!r}"
            )


def derived_params(section: CurriculumSection, batch_size: int, n: int) -> dict[str, Any]:
    """The strategy's keyword arguments: ``params`` plus the fields the trainer derives (the one place they are set).

    ``batch_size`` is m (``data.train_batch_size``), ``n`` the responses per prompt (``actor_rollout_ref.rollout.n``;
    the N = m·n rollout budget of CurES Eq. 20 and PCL §3), ``seed`` and ``max_gen_rounds`` come from the section.
    """
    params: dict[str, Any] = dict(section.params)
    params.update(batch_size=int(batch_size), n=int(n), seed=section.seed, max_gen_rounds=section.max_gen_rounds)
    return params


def build_from_config(section: CurriculumSection, batch_size: int, n: int, num_prompts: int) -> Curriculum:
    """Instantiate the configured strategy with the trainer-derived fields filled in."""
    return build_curriculum(section.name, derived_params(section, batch_size, n), num_prompts=num_prompts)


@dataclasses.dataclass(frozen=True)
class ValueModelSection:
    """Typed view of PCL's ``curriculum.value_model`` (docs/pcl.md §3-4), validated once by :func:`value_model_section`.

    ``critic`` is the rest of the node, verl's critic schema (``dp_critic`` + ``hf_model``); it becomes verl's
    ``FSDPCriticConfig`` in the worker, where the model files exist. The head of V(x) (PCL Eq. 3's regression target is
    the empirical accuracy) is linear (``none``) or ``sigmoid``, starting at ``head_init_value`` (null: HF's random
    head).
    """

    enable: bool = True
    head_activation: str = "none"
    head_init_value: float | None = 0.5
    critic: dict[str, Any] = dataclasses.field(default_factory=dict)


def value_model_section(config: Mapping[str, Any]) -> ValueModelSection | None:
    """``curriculum.value_model`` as a :class:`ValueModelSection`, or ``None`` if the run has none or disables it.

    Raises ``ValueError`` naming the key for an unknown head activation or a bad initial value.
    """
    from omegaconf import DictConfig, OmegaConf

    from verl_ext.workers.loss import HEAD_ACTIVATIONS
    from verl_ext.workers.value_worker import DEFAULT_HEAD_INIT_VALUE, head_init_value

    node = config["curriculum"].get("value_model") if "curriculum" in config else None
    if node is None:
        return None
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=True)
    critic = dict(node)  # type: ignore[arg-type]
    enable = critic.pop("enable", True)
    if not isinstance(enable, bool):
        raise ValueError(f"curriculum.value_model.enable must be true or false, got {enable!r}")
    head = str(critic.pop("head_activation", "none") or "none")
    if head not in HEAD_ACTIVATIONS:
        raise ValueError(f"curriculum.value_model.head_activation={head!r}; valid: {', '.join(HEAD_ACTIVATIONS)}")
    init = head_init_value(critic.pop("head_init_value", DEFAULT_HEAD_INIT_VALUE), head)
    if not enable:
        return None
    return ValueModelSection(enable=True, head_activation=head, head_init_value=init, critic=critic)


def section_from_config(config: Any) -> CurriculumSection:
    """Typed ``curriculum`` section, with interpolations (``seed: ${seed}``) resolved against the whole config."""
    from omegaconf import DictConfig, OmegaConf
    from verl.utils.config import omega_conf_to_dataclass

    node = config["curriculum"]
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=True)
    node = dict(node)
    node.pop("value_model", None)  # PCL's value model has its own node: value_model_section()
    return omega_conf_to_dataclass(node, CurriculumSection)


def check_trainer_config(config: Mapping[str, Any]) -> CurriculumSection:
    """Validate the curriculum namespace against the rest of the verl config; raise ``ValueError`` naming the key.

    Runs in the entry point before Ray starts: a bad key costs seconds, not a GPU allocation. Also checks the
    stop-and-keep keys (``run.budget_hours``, checkpoint retention: :func:`verl_ext.trainer.stopping.stop_settings`).
    """
    section = section_from_config(config)
    has_value_model = value_model_section(config) is not None
    # a strategy with the value-prior capability: prior.source=value_model iff curriculum.value_model is enabled
    check_value_model_use(get_curriculum_class(section.name), section.params, has_value_model)
    stop_settings(config)
    trainer = config["trainer"]
    if trainer.get("use_v1", True) is not True:
        raise ValueError("trainer.use_v1 must be true: the curriculum trainer subclasses verl's V1 PPOTrainerSync")
    mode = trainer.get("v1", {}).get("trainer_mode", "sync")
    if mode != "sync":
        raise ValueError(
            f"trainer.v1.trainer_mode={mode!r}: the curriculum trainer needs 'sync' (other modes silently switch "
            "verl to its async replay buffer)"
        )
    if config["algorithm"]["filter_groups"]["enable"] and get_curriculum_class(section.name).selects_prompts:
        raise ValueError(
            f"algorithm.filter_groups.enable=true with curriculum.name={section.name!r} would filter groups twice; "
            "set algorithm.filter_groups.enable=false (the curriculum does its own selection)"
        )
    if config["data"].get("dataloader_num_workers", 0) not in (0, None):
        raise ValueError("data.dataloader_num_workers must be 0: the curriculum draws rows itself, no loader prefetch")
    if config["data"].get("filter_overlong_prompts", False):
        raise ValueError(
            "data.filter_overlong_prompts must be false: dropping rows would shift positions away from "
            "extra_info.index; refuse overlong prompts at data preparation instead"
        )
    # The strategy's own config dataclass checks its hyper-parameters (unknown keys, bounds) without any data;
    # pool-dependent checks (k·m vs the pool, pilot tables) run when the trainer builds it on the real dataset.
    cls = get_curriculum_class(section.name)
    unknown = sorted(set(section.params) - {f.name for f in dataclasses.fields(cls.config_class)})
    if unknown:
        raise ValueError(
            f"curriculum {section.name!r} has no option(s) {unknown}; valid options: "
            f"{', '.join(sorted(f.name for f in dataclasses.fields(cls.config_class)))}"
        )
    cls.config_class(
        **derived_params(section, config["data"]["train_batch_size"], config["actor_rollout_ref"]["rollout"]["n"])
    )
    return section
