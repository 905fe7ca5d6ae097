"""Pure curriculum algorithms (numpy/torch only; no verl or Ray import).

Importing this package registers every built-in strategy under its ``curriculum.name``.
"""

from verl_ext.curriculum import cures, ds, greso, gvm, pcl, prefilter, probe, speed, uniform  # noqa: F401
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
    "list_curricula",
    "register_curriculum",
]
