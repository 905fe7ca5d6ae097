"""The parts every selecting curriculum is built from: estimator × score × allocator (docs/methods/composed.md).

:mod:`~verl_ext.curriculum.parts.estimators` (beta, thompson, value, probe), :mod:`~verl_ext.curriculum.parts.scores`
(cures, informative, knapsack_value, distance) and :mod:`~verl_ext.curriculum.parts.allocators` (fixed, neyman,
gvm, knapsack). :mod:`verl_ext.curriculum.compose` puts them together as ``curriculum.name=composed``.
"""

from verl_ext.curriculum.parts.allocators import ALLOCATORS, Allocator
from verl_ext.curriculum.parts.estimators import ESTIMATORS, Estimate, Estimator
from verl_ext.curriculum.parts.scores import SCORES, Score

__all__ = ["ALLOCATORS", "ESTIMATORS", "SCORES", "Allocator", "Estimate", "Estimator", "Score"]
