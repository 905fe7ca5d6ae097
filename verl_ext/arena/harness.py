"""Equal-budget runs of every registered curriculum against the simulated learner (docs/arena.md).

**Budget accounting.** A run's rollouts are every response the curriculum had generated (``generate``, ``submit``,
``extend``: screening, pilots, probes and trained responses alike), counted by the context. A step is applied (the
learner trains on it and it enters the curves) only when the run's cumulative rollouts after it are ≤ the budget; the
first step that would exceed the budget is discarded and the run ends. So every curriculum spends at most the budget,
and more than ``budget − (its last step's rollouts)``.

Per applied step the harness records, from the context and the Curriculum interface alone (no strategy-specific
code), with the trainer's definitions (:mod:`verl_ext.curriculum.observability`, docs/metrics.md):

* held-out accuracy (:meth:`SimulatedLearner.heldout_accuracy`) against cumulative rollouts;
* effective ratio: share of trained groups whose rewards are not all equal;
* wasted fraction: share of trained responses in groups with equal rewards (zero GRPO advantage); the trainer weighs
  by response tokens, the simulated learner has none and weighs each response 1;
* screened fraction: share of the step's responses that were generated but not trained;
* selection ms: wall time of ``run_step`` + ``observe`` minus the context's generation and scoring time;
* calibration samples (predicted p vs realised success of each trained group) for strategies that predict p:
  ``Curriculum.predicted_success`` of the trained prompts, asked after ``run_step`` and before ``observe`` as the
  trainer does (PCL's value model is the simulator's noisy oracle here);
* allocation samples (n_i vs p̂_i, p̂ = the strategy's prediction, else the learner's true p) when the trained group
  sizes differ within a step.

At the end: pool health and coverage of the trainer's :class:`PromptTracker` (shares of the *seen* prompts whose last
observed success rate is < 0.05, > 0.95 or between, the share of the pool never rolled out, the share trained at
least once).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from verl_ext.arena.needs import Plan, plan_curriculum
from verl_ext.arena.simulator import SimContext, SimSettings, SimulatedLearner
from verl_ext.curriculum.base import build_curriculum, list_curricula
from verl_ext.curriculum.observability import PromptTracker, effective_ratio, wasted_fraction

__all__ = ["ArenaSettings", "RunResult", "run_arena", "run_one"]

logger = logging.getLogger(__name__)

_MAX_SAMPLES = 4000  # calibration / allocation points kept per run (a uniform subsample of the last half)


@dataclasses.dataclass(frozen=True)
class ArenaSettings:
    """One arena: m, n, the rollout budget, the step cap and the learner.

    Attributes:
        batch_size: m, prompts trained per step. n: responses per prompt (the mean budget of allocating methods).
        budget: rollouts (responses generated, screening included) per run; ``None`` = steps·m·n.
        steps: the budget in uniform-GRPO steps when ``budget`` is None.
        max_steps: a cap on applied steps (a curriculum spending less than m·n a step may stop here first; noted).
        sim: the learner's constants.
    """

    batch_size: int = 32
    n: int = 8
    budget: int | None = None
    steps: int = 2000
    max_steps: int | None = None
    sim: SimSettings = dataclasses.field(default_factory=SimSettings)

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.n < 1 or self.steps < 1:
            raise ValueError(f"arena batch_size, n, steps must be >= 1, got {self.batch_size}, {self.n}, {self.steps}")
        if self.budget is not None and self.budget < self.batch_size * self.n:
            raise ValueError(f"arena budget={self.budget} is below one step of m*n={self.batch_size * self.n}")

    @property
    def rollout_budget(self) -> int:
        """The budget in rollouts."""
        return int(self.budget if self.budget is not None else self.steps * self.batch_size * self.n)

    @property
    def step_cap(self) -> int:
        """Most applied steps per run (default 4 × the budget in uniform steps)."""
        if self.max_steps is not None:
            return int(self.max_steps)
        return 4 * math.ceil(self.rollout_budget / (self.batch_size * self.n))


@dataclasses.dataclass
class RunResult:
    """One curriculum × seed.

    Attributes:
        rollouts, accuracy, effective_ratio, wasted, screened, select_ms: one entry per applied step (cumulative
            rollouts; the rest per step), with ``accuracy[0]``/``rollouts[0]`` the state before training.
        calib: ``(predicted, realised success, n)`` rows of trained groups (subsampled), or ``None``.
        alloc: ``(p̂, n_i)`` rows when the strategy allocates, else ``None``; ``alloc_source``: what p̂ is.
        health: pool health and coverage shares. stop: why the run ended. wall_s: the run's wall time.
    """

    name: str
    seed: int
    rollouts: list[int]
    accuracy: list[float]
    effective_ratio: list[float] = dataclasses.field(default_factory=list)
    wasted: list[float] = dataclasses.field(default_factory=list)
    screened: list[float] = dataclasses.field(default_factory=list)
    select_ms: list[float] = dataclasses.field(default_factory=list)
    calib: np.ndarray | None = None
    alloc: np.ndarray | None = None
    alloc_source: str = ""
    health: dict[str, float] = dataclasses.field(default_factory=dict)
    stop: str = ""
    wall_s: float = 0.0
    notes: list[str] = dataclasses.field(default_factory=list)


def _subsample(rows: list[np.ndarray], rng: np.random.Generator) -> np.ndarray | None:
    if not rows:
        return None
    arr = np.concatenate(rows[len(rows) // 2 :]) if len(rows) > 1 else rows[0]
    if arr.shape[0] > _MAX_SAMPLES:
        arr = arr[np.sort(rng.choice(arr.shape[0], _MAX_SAMPLES, replace=False))]
    return arr


def run_one(
    plan: Plan,
    seed: int,
    settings: ArenaSettings,
    learner: SimulatedLearner,
) -> RunResult:
    """Run ``plan`` on a fresh copy of the learner state until the budget (see the module docstring).

    Raises whatever the strategy raises (the caller lists it as failed with the message).
    """
    t_start = time.perf_counter()
    m, n, budget = settings.batch_size, settings.n, settings.rollout_budget
    params = dict(plan.params, batch_size=m, n=n, seed=seed)
    learner.phi[:] = 0.0
    learner.theta[:] = 0.0
    learner.gamma = 0.0
    cur = build_curriculum(plan.name, params, num_prompts=learner.num_prompts)
    if plan.attach_subsets:
        cur.set_subset_labels(learner.subset)  # type: ignore[attr-defined]
    ctx = SimContext(learner, seed=seed)
    res = RunResult(plan.name, seed, rollouts=[0], accuracy=[learner.heldout_accuracy()], notes=list(plan.notes))
    tracker = PromptTracker(learner.num_prompts)
    calib_rows: list[np.ndarray] = []
    alloc_rows: list[np.ndarray] = []
    rng = np.random.default_rng([seed, 11])
    used_score = False
    res.stop = f"step cap {settings.step_cap}"
    for step in range(1, settings.step_cap + 1):
        before = ctx.total_responses
        t0 = time.perf_counter()
        cur.run_step(ctx)
        trained = ctx.committed_with_rewards()
        idx = np.array([g.index for g in trained], dtype=np.int64)
        pred = cur.predicted_success(idx)
        used_score = used_score or bool(ctx.scored)
        screened = ctx.screened_with_rewards()
        cur.observe(trained, screened)
        select_s = time.perf_counter() - t0 - ctx.gen_seconds
        if ctx.total_responses > budget:
            res.stop = f"budget: step {step} would reach {ctx.total_responses} > {budget} rollouts (not applied)"
            break
        learner.train(trained)
        sizes = np.array([g.n for g in trained], dtype=np.int64)
        succ = np.array([g.successes for g in trained], dtype=np.int64)
        step_resp = ctx.total_responses - before
        res.rollouts.append(ctx.total_responses)
        res.accuracy.append(learner.heldout_accuracy())
        res.effective_ratio.append(effective_ratio(trained) or 0.0)
        res.wasted.append(wasted_fraction(trained, sizes) or 0.0)
        res.screened.append(float(1.0 - sizes.sum() / step_resp) if step_resp else 0.0)
        res.select_ms.append(1000.0 * max(select_s, 0.0))
        tracker.update(trained, screened)
        if pred is not None and idx.size:
            calib_rows.append(np.stack([pred, succ / np.maximum(sizes, 1), sizes.astype(np.float64)], axis=1))
        if sizes.size and sizes.min() != sizes.max():
            p_hat = pred if pred is not None else ctx.success_rates[idx]
            res.alloc_source = "strategy's p-hat" if pred is not None else "true p (simulator)"
            alloc_rows.append(np.stack([p_hat, sizes.astype(np.float64)], axis=1))
        ctx.new_step()
    calib = _subsample(calib_rows, rng)
    if calib is not None:
        calib = calib[np.isfinite(calib[:, 0])]
    res.calib = calib if calib is not None and calib.shape[0] >= 3 else None
    res.alloc = _subsample(alloc_rows, rng)
    res.health = tracker.metrics()
    if used_score:
        res.notes.append("ctx.score = the learner's noisy value oracle")
    res.wall_s = time.perf_counter() - t_start
    return res


def _task(plan: Plan, seed: int, settings: ArenaSettings) -> RunResult | str:
    """One (curriculum, seed) in a worker process: the result, or the strategy's error message."""
    try:
        return run_one(plan, seed, settings, SimulatedLearner(settings.sim, seed))
    except Exception as err:  # a strategy's own refusal: listed with its message
        return f"failed (seed {seed}): {type(err).__name__}: {err}"


def run_arena(
    names: Sequence[str] | None,
    seeds: Sequence[int],
    settings: ArenaSettings,
    config_dir: Path,
    work_dir: Path,
    overrides: dict[str, dict[str, Any]] | None = None,
    progress: Callable[[str], None] | None = None,
    jobs: int = 1,
) -> tuple[list[RunResult], dict[str, str]]:
    """Run every curriculum in ``names`` (default: every registered one) for every seed, ``jobs`` runs at a time
    (processes; each run is single-threaded numpy).

    Returns:
        the results (seed-major order), and ``{name: reason}`` for each curriculum that was not run or failed on any
        seed (its other seeds are dropped too; never dropped silently).
    """
    registered = list_curricula()
    names = list(registered if not names else names)
    bad = sorted(set(names) - set(registered))
    if bad:
        raise ValueError(f"unknown curricula {bad}; registered: {', '.join(registered)}")
    overrides = overrides or {}
    bad = sorted(set(overrides) - set(names))
    if bad:
        raise ValueError(f"overrides given for {bad}, which are not in the arena's curricula {names}")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    not_run: dict[str, str] = {}
    tasks: list[tuple[Plan, int]] = []
    for seed in seeds:
        pool_file = SimulatedLearner(settings.sim, seed).write_pool(work_dir / f"sim_pool_seed{seed}.parquet")
        for name in names:
            plan = plan_curriculum(
                name,
                config_dir,
                pool_file,
                settings.sim.subsets,
                overrides.get(name, {}),
                budget=(settings.rollout_budget, settings.batch_size * settings.n),
                num_prompts=settings.sim.num_prompts,
            )
            if plan.reason:
                not_run[name] = plan.reason
                continue
            tasks.append((plan, seed))
    for name, reason in not_run.items():
        logger.warning("arena: %s not run: %s", name, reason)
    outcomes: list[RunResult | str]
    if jobs == 1:
        outcomes = []
        for plan, seed in tasks:
            outcomes.append(_task(plan, seed, settings))
            _report(outcomes[-1], plan.name, progress)
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_task, plan, seed, settings) for plan, seed in tasks]
            outcomes = []
            for (plan, _), fut in zip(tasks, futures, strict=True):
                outcomes.append(fut.result())
                _report(outcomes[-1], plan.name, progress)
    for (plan, _), out in zip(tasks, outcomes, strict=True):
        if isinstance(out, str) and plan.name not in not_run:
            not_run[plan.name] = out
            logger.warning("arena: %s %s", plan.name, out)
    results = [r for r in outcomes if isinstance(r, RunResult) and r.name not in not_run]
    return results, not_run


def _report(out: RunResult | str, name: str, progress: Callable[[str], None] | None) -> None:
    if progress is None:
        return
    if isinstance(out, str):
        progress(f"{name}: {out}")
    else:
        progress(f"{out.name}@{out.seed}: {len(out.rollouts) - 1} steps, {out.rollouts[-1]} rollouts, final acc "
                 f"{out.accuracy[-1]:.3f}, {out.wall_s:.1f} s ({out.stop})")  # fmt: skip
