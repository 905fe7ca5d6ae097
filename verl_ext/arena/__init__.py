"""The curriculum arena (docs/arena.md): every registered curriculum on one rollout budget.

* :mod:`verl_ext.arena.simulator` — a synthetic learner over a large prompt pool (a model, not an LLM) and the
  rollout context that serves it to any curriculum;
* :mod:`verl_ext.arena.needs` — what a strategy needs beyond the rollout protocol and how the simulator provides it
  (or why it cannot);
* :mod:`verl_ext.arena.harness` — the equal-budget runs and their per-step records;
* :mod:`verl_ext.arena.report` — the mean ± sd table and the plots;
* :mod:`verl_ext.arena.launch` — the real (CPU trainer) and cluster (``scripts/launch.sh``) command builders.
"""
