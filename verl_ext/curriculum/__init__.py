"""Pure curriculum algorithms (numpy/torch only; no verl or Ray import).

Importing this package registers every built-in strategy under its ``curriculum.name``. CurES is three strategies:
``cures_algorithm1`` (the paper's Algorithm 1), ``cures_online`` (the project's streaming variant) and
``cures_release`` (the authors' released pipeline); the old name ``cures`` is gone
(:func:`legacy_checkpoint_message` says what replaced it).
"""

from verl_ext.curriculum import (  # noqa: F401
    adarft,
    compose,
    cures,
    cures_algorithm1,
    cures_online,
    cures_release,
    ds,
    greso,
    gvm,
    knapsack,
    mopps,
    pcl,
    prefilter,
    probe,
    reinforce_ada,
    sec,
    speed,
    uniform,
)
from verl_ext.curriculum.base import (
    Curriculum,
    CurriculumConfig,
    GenerationBudgetExceeded,
    Group,
    RolloutContext,
    build_curriculum,
    get_curriculum_class,
    list_curricula,
    register_curriculum,
)
from verl_ext.curriculum.cures import legacy_checkpoint_message
from verl_ext.curriculum.sampler import PassSampler

__all__ = [
    "Curriculum",
    "CurriculumConfig",
    "GenerationBudgetExceeded",
    "Group",
    "PassSampler",
    "RolloutContext",
    "build_curriculum",
    "get_curriculum_class",
    "legacy_checkpoint_message",
    "list_curricula",
    "register_curriculum",
]
