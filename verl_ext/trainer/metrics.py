"""The ``curriculum/`` metrics every method logs (effective ratio, rewards, rollouts, tokens, waves, pool health,
calibration), pure numpy; the figures themselves are defined once in :mod:`verl_ext.curriculum.observability`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from verl_ext.curriculum.base import Group
from verl_ext.curriculum.observability import PromptTracker, calibration, effective_ratio, wasted_fraction

__all__ = [
    "GROUP_ESTIMATORS",
    "calibration_metrics",
    "check_group_sizes",
    "fold_generation_into_perf",
    "group_size_metrics",
    "group_sizes",
    "optimizer_steps",
    "padding_rows",
    "pool_metrics",
    "released_groups",
    "shared_step_metrics",
]

# verl 0.9.1 estimators that normalise within the ``uid`` group: a group of one response gets mean 0 (and std 1),
# so its advantage is its raw reward, not 0 (core_algos.py, "if len(id2score[idx]) == 1").
GROUP_ESTIMATORS = frozenset(
    {"grpo", "grpo_vectorized", "grpo_passk", "gdpo", "rloo", "rloo_vectorized", "reinforce_plus_plus_baseline",
     "opo", "gpg"}
)  # fmt: skip


def shared_step_metrics(
    trained: Sequence[Group],
    generated: Sequence[Group],
    rounds: int,
    prompts_rolled_out: int,
    responses: int,
    gen_tokens: int,
    waves: int | None = None,
    trained_tokens: Sequence[int] | None = None,
) -> dict[str, float]:
    """Metrics every curriculum logs.

    Args:
        trained: committed groups with their rewards (one per trained prompt).
        generated: every group rolled out this step with known rewards (screening included); groups
            submitted without waiting appear through ``trained`` only.
        rounds, prompts_rolled_out, responses: generation accounting of the step (all rounds).
        gen_tokens: response tokens generated this step and trained or discarded (screening, surplus).
        waves: blocking waits on the rollout engine (``curriculum/gen_waves``); omitted when ``None``.
        trained_tokens: response tokens of each group of ``trained`` (same order); ``None``: no
            ``curriculum/wasted_token_frac``.

    Returns:
        ``curriculum/effective_ratio``: share of trained prompts whose rewards are not all equal (non-zero GRPO
        advantage; 0 < mean reward < 1 for binary rewards); ``curriculum/effective_sample_ratio``: share of trained
        responses in such groups; ``curriculum/wasted_token_frac``: share of trained response tokens in the other
        groups; ``curriculum/train_acc``: mean over trained prompts of the mean reward; ``curriculum/rollout_acc``:
        share of correct responses over all responses with known rewards; and the accounting.
    """
    scored = [g for g in trained if g.n > 0]
    means = np.array([float(np.mean(g.rewards)) for g in scored])
    known = {g.handle: g for g in generated if g.n > 0}
    known.update({g.handle: g for g in trained if g.n > 0})
    all_rewards = np.concatenate([np.asarray(g.rewards, dtype=float) for g in known.values()]) if known else None
    out = {
        "curriculum/gen_rounds": float(rounds),
        "curriculum/prompts_rolled_out": float(prompts_rolled_out),
        "curriculum/responses": float(responses),
        "curriculum/gen_tokens": float(gen_tokens),
        "curriculum/trained_prompts": float(len(means)),
    }
    if waves is not None:
        out["curriculum/gen_waves"] = float(waves)
    if len(means):
        wasted_responses = wasted_fraction(scored, [g.n for g in scored])
        out["curriculum/effective_ratio"] = float(effective_ratio(scored) or 0.0)
        out["curriculum/effective_sample_ratio"] = 1.0 - float(wasted_responses or 0.0)
        out["curriculum/train_acc"] = float(means.mean())
    if trained_tokens is not None:
        wasted = wasted_fraction(trained, trained_tokens)
        if wasted is not None:
            out["curriculum/wasted_token_frac"] = wasted
    if all_rewards is not None and all_rewards.size:
        out["curriculum/rollout_acc"] = float((all_rewards > 0.5).mean())
    return out


def pool_metrics(tracker: PromptTracker) -> dict[str, float]:
    """``curriculum/pool/*``: pool health and coverage of :class:`PromptTracker` (docs/metrics.md)."""
    return {f"curriculum/pool/{k}": v for k, v in tracker.metrics().items()}


def calibration_metrics(trained: Sequence[Group], predicted: Mapping[str, float]) -> dict[str, float]:
    """``curriculum/calib/{bias,pearson,spearman,brier}`` of the strategy's predictions vs the trained groups' success.

    Args:
        trained: the trained groups with rewards.
        predicted: ``{group handle: predicted p}`` from ``Curriculum.predicted_success`` at selection; groups
            without a prediction are left out.

    Returns:
        the calibration keys (:func:`verl_ext.curriculum.observability.calibration`), empty without predictions.
    """
    rows = [(predicted[g.handle], g.successes / g.n, g.n) for g in trained if g.n > 0 and g.handle in predicted]
    if not rows:
        return {}
    p, y, n = (np.array(col, dtype=np.float64) for col in zip(*rows))
    return {f"curriculum/calib/{k}": v for k, v in calibration(p, y, n).items()}


def optimizer_steps(trajectories: int, ppo_mini_batch_size: int, rollout_n: int, ppo_epochs: int) -> int:
    """Actor optimizer steps verl's V1 trainer takes for one step.

    verl's update unit is ``ppo_mini_batch_size * rollout.n`` trajectories (the config n, whatever the per-prompt
    ``__rollout_n__``), and ``_balance_batch`` pads the batch up to a multiple of it, so T trajectories give
    ``ceil(T / unit) * ppo_epochs`` steps (``trainer_base._get_required_batch_multiple``). ``grpo_pcl`` (m·16 with
    mini-batch m) gives 1, ``grpo_cures`` (1024·8 with mini-batch 256) gives 4.
    """
    unit = ppo_mini_batch_size * rollout_n
    return -(-trajectories // unit) * ppo_epochs


def released_groups(generated: Mapping[str, Group], released: Iterable[str]) -> list[Group]:
    """The generated groups whose handle was released (``observe``'s ``screened``), in generation order.

    The released handles are put in a set once: O(|generated| + |released|), not a set rebuilt per group.
    """
    drop = set(released)
    return [g for h, g in generated.items() if h in drop]


def padding_rows(trajectories: int, unit: int) -> int:
    """Synthetic rows verl's ``_balance_batch`` appends (``padding_utils.upsample_batch_to_divisible_size``):
    ``(−T) mod unit`` with ``unit = lcm(dp_size, ppo_mini_batch_size · rollout.n)`` (``_get_required_batch_multiple``).
    """
    if unit < 1:
        raise ValueError(f"the batch unit must be >= 1, got {unit}")
    return -trajectories % unit


def fold_generation_into_perf(
    metrics: Mapping[str, float],
    timing_raw: Mapping[str, float],
    n_gpus: int,
    batch_response_tokens: int,
    extra_prompt_tokens: int,
    extra_response_tokens: int,
) -> dict[str, float]:
    """verl's own throughput keys with the tokens of discarded rollouts (screening, surplus) added.

    verl 0.9.1 computes ``perf/total_num_tokens`` (prompt + response tokens of the trained batch),
    ``perf/throughput`` = total / (``timing_raw["step"]`` · n_gpus) and ``timing_per_token_ms/gen`` =
    ``timing_raw["gen"]`` · 1000 / response tokens (``trainer/ppo/metric_utils.py`` ``compute_throughout_metrics``,
    ``compute_timing_metrics``) from the trained batch only, while ``timing_raw["gen"]`` and ``["step"]`` already
    include every generation round (the rollout context times them with verl's ``marked_timer("gen")``). This
    recomputes the three keys with the same formulas over every generated token.

    Args:
        metrics: the step's metrics after verl's ``_compute_metrics`` (reads ``perf/total_num_tokens``).
        timing_raw: verl's step timings (``step``, ``gen``).
        n_gpus: verl's ``_get_n_gpus_for_throughput()``.
        batch_response_tokens: response tokens of the trained batch as verl counts them (padding rows: 1 each).
        extra_prompt_tokens, extra_response_tokens: tokens of trajectories generated and discarded this step.

    Returns:
        the updated keys (empty when verl logged none of them).
    """
    out: dict[str, float] = {}
    if "perf/total_num_tokens" in metrics:
        total = float(metrics["perf/total_num_tokens"]) + extra_prompt_tokens + extra_response_tokens
        out["perf/total_num_tokens"] = total
        if timing_raw.get("step"):
            out["perf/throughput"] = total / (float(timing_raw["step"]) * n_gpus)
    if "gen" in timing_raw:
        tokens = batch_response_tokens + extra_response_tokens
        out["timing_per_token_ms/gen"] = float(timing_raw["gen"]) * 1000 / tokens if tokens > 0 else 0.0
    return out


def group_sizes(keys: Sequence[str], uids: Sequence[str]) -> dict[str, int]:
    """Responses per GRPO group as verl's advantage sees them (``v1/utils.compute_advantage_for_multi_trajectories``).

    verl keeps the final turn of each session ``{key uid}_{session}`` and groups those by the trajectory's ``uid``
    *field* (which a SPEED continuation rewrites to its group's uid), so a group's size is its number of distinct
    sessions.

    Args:
        keys: trajectory keys ``{uid}_{session}_{turn}`` of the non-padding rows.
        uids: the ``uid`` field of each row, same order.

    Returns:
        ``{uid field: number of sessions}``.
    """
    sessions: dict[str, set[str]] = {}
    for key, uid in zip(keys, uids, strict=True):
        sessions.setdefault(str(uid), set()).add(key.rsplit("_", 1)[0])
    return {u: len(s) for u, s in sessions.items()}


def group_size_metrics(sizes: Mapping[str, int]) -> dict[str, float]:
    """``curriculum/group_size_{min,max,distinct}`` of the groups that reach the advantage (empty input → {})."""
    if not sizes:
        return {}
    values = np.fromiter(sizes.values(), dtype=np.int64, count=len(sizes))
    return {
        "curriculum/group_size_min": float(values.min()),
        "curriculum/group_size_max": float(values.max()),
        "curriculum/group_size_distinct": float(np.unique(values).size),
    }


def check_group_sizes(sizes: Mapping[str, int], adv_estimator: str, curriculum: str, allow_singletons: bool) -> None:
    """Refuse a group of one response under a group-normalised estimator (its advantage would be its raw reward).

    Raises:
        ValueError: naming the groups, the estimator and the curriculum, unless ``allow_singletons`` (GVM keeps its
            n_x = 1 groups as released, RLHFlow/GVM) or the estimator does not group.
    """
    if allow_singletons or str(adv_estimator) not in GROUP_ESTIMATORS:
        return
    single = sorted(u for u, n in sizes.items() if n < 2)
    if single:
        raise ValueError(
            f"{len(single)} group(s) of one response would reach the {adv_estimator} advantage (curriculum "
            f"{curriculum!r}; uids {single[:5]}): verl gives a singleton group its raw reward as advantage "
            "(verl/trainer/ppo/core_algos.py). Allocate at least 2 responses per trained prompt (rollout.n, n_min)"
        )
