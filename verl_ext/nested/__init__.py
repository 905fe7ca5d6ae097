"""Nested-ReFT (arXiv 2508.10123): a layer-skipped copy of the policy generates, the full policy trains.

Only the paper's abstract is public (no code): the schedule, the correction variants and the curriculum feedback
here are the project's design of it (docs/nested.md, recipes/nested/README.md).
"""
