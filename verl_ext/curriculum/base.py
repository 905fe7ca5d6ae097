"""The one Curriculum interface (docs/verl_hooks.md, docs/metrics.md) and the rollout context it drives.

A curriculum never imports verl or Ray. Each training step the trainer hands it a :class:`RolloutContext`
and calls :meth:`Curriculum.run_step`; the curriculum decides which prompts (dataset indices, i.e.
``extra_info.index``) are rolled out and how many responses each gets, may look at rewards and generate
again ("generate these, show me the rewards, then decide": DS, SPEED, probe), and finally commits the
groups that train this step. After the policy update the trainer calls :meth:`Curriculum.observe` with the
rewards of every group generated in the step (trained and screened), which is where posteriors and
histories are updated.

The trainer's context (``verl_ext.trainer``) submits to verl's TransferQueue; tests use
:class:`verl_ext.curriculum.testing.FakeRolloutContext`, which draws Bernoulli rewards from seeded
per-prompt success rates.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np

from verl_ext.curriculum.sampler import PassSampler

__all__ = [
    "Curriculum",
    "CurriculumConfig",
    "GenerationBudgetExceeded",
    "Group",
    "RolloutContext",
    "build_curriculum",
    "get_curriculum_class",
    "list_curricula",
    "register_curriculum",
]


class GenerationBudgetExceeded(RuntimeError):
    """A step needed more generation rounds than ``curriculum.max_gen_rounds`` allows."""


@dataclasses.dataclass(frozen=True)
class Group:
    """One prompt's rollouts within one step.

    Attributes:
        handle: opaque id of the group inside the step (the trainer uses verl's per-step ``uid``). Never an
            identity across steps: use ``index`` for that.
        index: the prompt's dataset index (``extra_info.index``).
        rewards: float rewards of all responses generated so far for this group, shape ``(n,)``; ``None``
            when the group was submitted without waiting for its rewards (:meth:`RolloutContext.submit`).
        truncated: optional bool mask, shape ``(n,)``, True where the response hit the length limit.
    """

    handle: str
    index: int
    rewards: np.ndarray | None = None
    truncated: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of responses with known rewards."""
        return 0 if self.rewards is None else int(len(self.rewards))

    @property
    def successes(self) -> int:
        """Number of responses with reward > 0.5 (binary reward convention)."""
        return 0 if self.rewards is None else int((np.asarray(self.rewards) > 0.5).sum())


class RolloutContext(Protocol):
    """What a curriculum may ask of the trainer during one step.

    ``step`` is the 1-based global step being built and ``data_epoch`` the number of completed passes
    over the data (maintained by the curriculum's own pass sampler, reported back for metrics).
    """

    step: int

    def generate(self, indices: np.ndarray, n: int | np.ndarray) -> list[Group]:
        """Roll out ``n`` (int or per-prompt int array) responses for each index; block; return groups with
        rewards, in the order of ``indices``."""
        ...

    def extend(self, groups: Sequence[Group], n_more: int | np.ndarray) -> list[Group]:
        """Add ``n_more`` responses to existing groups (same handle, response numbering continues after the
        existing ones: SPEED's continuation); block; return the groups with all their rewards."""
        ...

    def generate_and_extend(
        self, indices: np.ndarray, n: int | np.ndarray, groups: Sequence[Group], n_more: int | np.ndarray
    ) -> tuple[list[Group], list[Group]]:
        """:meth:`generate` of ``indices`` and :meth:`extend` of ``groups`` dispatched together and awaited once
        (one generation wave); returns ``(fresh groups, extended groups)``, either possibly empty."""
        ...

    def submit(self, indices: np.ndarray, n: int | np.ndarray) -> list[Group]:
        """Like :meth:`generate` but without waiting: returned groups have ``rewards=None``. For curricula
        that decide before generation (uniform, CurES, GVM, PCL); their rewards arrive in ``observe``."""
        ...

    def release(self, groups: Sequence[Group]) -> None:
        """Drop groups that will not be trained (screening, surplus)."""
        ...

    def commit(self, groups: Sequence[Group]) -> None:
        """Mark groups as this step's training batch. Called once per step, with every group to train."""
        ...

    def trim(self, groups: Sequence[Group], keep: Sequence[np.ndarray]) -> list[Group]:
        """Optional capability: keep only the responses at positions ``keep[j]`` (into ``groups[j].rewards``) of each
        group and drop the others like released rollouts (Reinforce-Ada's down-sampling); returns the trimmed groups."""
        ...

    def score(self, indices: np.ndarray) -> np.ndarray:
        """Optional capability: a prompt-value prediction per index (PCL's value model). Contexts without a
        value model raise ``NotImplementedError``."""
        ...


@dataclasses.dataclass
class CurriculumConfig:
    """Fields shared by every curriculum; strategies subclass this with their own hyper-parameters.

    Attributes:
        batch_size: m, prompts trained per step (``data.train_batch_size``).
        n: responses per prompt (``actor_rollout_ref.rollout.n``; the mean budget for allocating methods).
        seed: seeds the curriculum's own ``numpy.random.Generator``.
        max_gen_rounds: bound on generation rounds within one step (DS, SPEED, GRESO, probe).
    """

    batch_size: int = 512
    n: int = 16
    seed: int = 1
    max_gen_rounds: int = 10

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"curriculum batch_size must be >= 1, got {self.batch_size}; set data.train_batch_size")
        if self.n < 1:
            raise ValueError(f"curriculum n must be >= 1, got {self.n}; set actor_rollout_ref.rollout.n")
        if self.max_gen_rounds < 1:
            raise ValueError(f"curriculum.max_gen_rounds must be >= 1, got {self.max_gen_rounds}")


C = TypeVar("C", bound=CurriculumConfig)


class Curriculum(abc.ABC):
    """Base class of every strategy.

    Subclasses set ``name`` and ``config_class`` and are registered with :func:`register_curriculum`.
    ``num_prompts`` is the pool size; dataset indices are ``0..num_prompts-1`` (data contract: index = row).
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[CurriculumConfig]] = CurriculumConfig
    # The trainer refuses a trained group of one response under a group-normalised advantage (verl gives it its raw
    # reward); a strategy whose paper keeps such groups (GVM's n_x = 1) opts out.
    allows_singleton_groups: ClassVar[bool] = False
    # Capabilities the trainer reads instead of strategy names (docs/metrics.md, docs/verl_hooks.md):
    # ``selects_prompts``: the strategy chooses or drops prompts itself, so verl's DAPO group filter
    # (``algorithm.filter_groups``) would filter a second time; only plain batches (uniform) may combine with it.
    selects_prompts: ClassVar[bool] = True
    # ``extension``: ``"module:Class"`` of a :class:`verl_ext.trainer.extension.TrainerExtension` the trainer builds
    # for this strategy (extra worker groups: PCL's value model, CurES Algorithm 1's gradient norms); ``None``: none.
    extension: ClassVar[str | None] = None
    # The pass sampler of a strategy that draws prompts in data epochs (``curriculum/data_epoch``); ``None``: none.
    sampler: PassSampler | None = None

    def __init__(self, config: CurriculumConfig, num_prompts: int) -> None:
        if num_prompts < 1:
            raise ValueError(f"the training pool is empty (num_prompts={num_prompts}); check data.train_files")
        self.config = config
        self.num_prompts = int(num_prompts)

    @property
    def data_epoch(self) -> int | None:
        """Completed passes over the pool (logged by the trainer as ``curriculum/data_epoch``); ``None``: no sampler."""
        return None if self.sampler is None else int(self.sampler.data_epoch)

    @abc.abstractmethod
    def run_step(self, ctx: RolloutContext) -> dict[str, float]:
        """Choose, generate as needed, and ``ctx.commit`` exactly the groups to train; return metrics."""

    def observe(self, trained: Sequence[Group], screened: Sequence[Group] = ()) -> dict[str, float]:
        """Update state from this step's rewards (``trained``: committed groups; ``screened``: released ones).
        Returns ``{"<method>/<name>": float}`` metrics. Default: no state."""
        return {}

    def predicted_success(self, indices: np.ndarray) -> np.ndarray | None:
        """Capability: the strategy's predicted success probability p of each prompt in ``indices``.

        The trainer calls it right after :meth:`run_step` for the prompts committed that step, i.e. with the estimator
        as it stood at selection and before :meth:`observe` updates it, and logs the calibration of these predictions
        against the realised success of the trained groups (``curriculum/calib/*``, docs/metrics.md). A Beta
        estimator returns its posterior mean α/(α+β), PCL its value V(x) clipped to [0, 1].

        Args:
            indices: int64 dataset indices, shape ``(k,)`` (a prompt drawn twice appears twice).

        Returns:
            float64 array of shape ``(k,)`` with values in [0, 1], or ``None``: the strategy predicts nothing (the
            default).
        """
        return None

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume bit-exactly (arrays, counters, RNG state)."""

    @abc.abstractmethod
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


_REGISTRY: dict[str, type[Curriculum]] = {}

T = TypeVar("T", bound=type[Curriculum])


def register_curriculum(name: str) -> Callable[[T], T]:
    """Class decorator registering a curriculum under ``name`` (the config's ``curriculum.name``)."""

    def wrap(cls: T) -> T:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"curriculum {name!r} is already registered by {_REGISTRY[name].__qualname__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def _ensure_builtin_registered() -> None:
    # Importing the package registers every built-in strategy (each module uses @register_curriculum).
    import verl_ext.curriculum  # noqa: F401


def list_curricula() -> list[str]:
    """Names of every registered curriculum, sorted."""
    _ensure_builtin_registered()
    return sorted(_REGISTRY)


def get_curriculum_class(name: str) -> type[Curriculum]:
    """The class registered under ``name``, or the class at ``module:Class`` (a strategy outside this package).

    A ``module:Class`` name is imported (the module's ``@register_curriculum`` may run then, but is not needed) and
    must be a :class:`Curriculum` subclass; errors name the key, the target and the valid names.
    """
    _ensure_builtin_registered()
    if ":" in name:
        return _import_curriculum(name)
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown curriculum.name={name!r}; valid names: {', '.join(sorted(_REGISTRY))}, "
            "or 'module:Class' of a Curriculum subclass"
        ) from None


def _import_curriculum(target: str) -> type[Curriculum]:
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"curriculum.name={target!r} cannot be imported as 'module:Class': {err}") from err
    if not (isinstance(obj, type) and issubclass(obj, Curriculum)):
        raise ValueError(f"curriculum.name={target!r} is not a Curriculum subclass (got {obj!r})")
    return obj


def build_curriculum(name: str, params: Mapping[str, Any], num_prompts: int) -> Curriculum:
    """Instantiate curriculum ``name`` from a plain mapping of its config fields.

    Unknown keys raise ``ValueError`` naming them and the valid fields, so a typo in a Hydra override fails
    before any worker starts.
    """
    cls = get_curriculum_class(name)
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    unknown = sorted(set(params) - fields)
    if unknown:
        raise ValueError(f"curriculum {name!r} has no option(s) {unknown}; valid options: {', '.join(sorted(fields))}")
    config = cls.config_class(**dict(params))
    return cls(config, num_prompts)
