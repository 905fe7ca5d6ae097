"""Binary math reward: 1 if math-verify says the final answer equals the ground truth, else 0; 0 if truncated.

verl 0.9.1 entry point (a custom reward function)::

    reward.custom_reward_function.path=pkg://verl_ext.rewards.math_reward
    reward.custom_reward_function.name=compute_score

How truncation reaches us (read from verl 0.9.1, ``experimental/reward_loop/reward_manager/naive.py``): the stock
``naive`` manager calls ``compute_score(data_source=, solution_str=, ground_truth=, extra_info=)`` with the response
decoded with ``skip_special_tokens=True`` (so the EOS is gone) and ``extra_info`` = the dataset row's ``extra_info``
plus ``num_turns`` and ``rollout_reward_scores``; no length or finish reason is passed (vLLM's "stop" and "length"
both become ``stop_reason="completed"``). Truncation is therefore decided where the token ids are still visible:
``verl_ext.rewards.manager.TruncationAwareRewardManager`` adds ``extra_info["truncated"]`` (no stop token and length
at ``rollout.response_length``), plus ``response_length`` / ``max_response_length``. This function reads, in order:
an explicit ``truncated=`` kwarg, ``extra_info["truncated"]``, then ``extra_info["response_length"] >=
extra_info["max_response_length"]``; with none of them (the stock manager) it cannot know and treats the response as
complete, logging a warning once.

Scoring runs in a pool of worker processes (``verl_ext.rewards.pool``) with a per-item timeout enforced from this
process: a hang or a crash scores 0, is counted (``reward_stats()``) and never blocks or kills training.

Which text of the response and of the gold math-verify reads is ``verl_ext.rewards.answer``'s (docs there).

Environment knobs (read when the pool is first created):

- ``VERL_EXT_REWARD_TIMEOUT``: seconds per item, default 5 = math-verify's own defaults
  (``math_verify.parse(parsing_timeout=5)``, ``math_verify.verify(timeout_seconds=5)``). Here one limit covers the
  whole item (parsing the gold and the response, and comparing them): a pathological answer holds one worker for
  at most this long and scores 0.
- ``VERL_EXT_REWARD_WORKERS``: processes in this process's pool, default ``default_num_workers()`` = the CPUs this
  process may run on (``os.sched_getaffinity``; ``os.cpu_count`` where that does not exist), capped at
  ``MAX_DEFAULT_WORKERS`` = 8. verl 0.9.1 scores in ``reward.num_workers`` reward-loop actors (8 by default, spread
  over the nodes), each with its own pool: on one 8-GPU node with ≥ 64 cores that is 64 scoring processes. Set the
  variable lower on nodes with fewer cores, or when other CPU work shares the node.
- ``VERL_EXT_REWARD_MAX_MEMORY_MB``: address-space cap per worker, default 4096, 0 = none.

Worst case: k pathological answers among a step's answers add about ``ceil(k / workers) × timeout`` seconds of
scoring to that reward-loop actor (``scripts/bench/bench_reward.py`` measures it).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from verl_ext.rewards.pool import VerifyPool, VerifyResult, close_pool, get_pool

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0  # math-verify's own per-call default (parse and verify)
MAX_DEFAULT_WORKERS = 8
_STATS: Counter[str] = Counter()
_STATS_LOCK = threading.Lock()
_WARNED_NO_TRUNCATION_INFO = False


def _env_number(name: str, default: float, kind: type, minimum: float) -> Any:
    """``$name`` as ``kind`` (``default`` when unset); a clear error naming the variable when it is not valid."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}; expected a number >= {minimum}") from None
    if value < minimum:
        raise ValueError(f"{name}={raw!r} must be >= {minimum}")
    return value


def default_timeout() -> float:
    """Per-item timeout in seconds: ``$VERL_EXT_REWARD_TIMEOUT`` or 5 (math-verify's own default)."""
    return _env_number("VERL_EXT_REWARD_TIMEOUT", DEFAULT_TIMEOUT_S, float, 0.001)


def available_cpus() -> int:
    """CPUs this process may run on: its affinity mask where the OS has one (cgroups, ``taskset``), else the count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def default_num_workers(cpus: int | None = None) -> int:
    """Pool size without ``$VERL_EXT_REWARD_WORKERS``: ``min(MAX_DEFAULT_WORKERS, available CPUs)``."""
    return max(1, min(MAX_DEFAULT_WORKERS, available_cpus() if cpus is None else cpus))


def pool() -> VerifyPool:
    """The lazily created process-wide worker pool (sized from the environment, see the module docstring)."""
    workers = _env_number("VERL_EXT_REWARD_WORKERS", default_num_workers(), int, 1)
    memory = _env_number("VERL_EXT_REWARD_MAX_MEMORY_MB", 4096, int, 0)
    return get_pool(workers, memory)


def reset_pool() -> None:
    """Kill the worker pool; the next call starts a fresh one (tests; after changing the environment knobs)."""
    close_pool()


def reward_stats(reset: bool = False) -> dict[str, float]:
    """Counters since the process started (or the last reset): items, timeouts, crashes, errors, truncated.

    Trainers log them as ``reward/<name>`` (e.g. ``reward/timeouts``); ``reset=True`` returns and zeroes them, so
    per-step counts come from calling it once per step.
    """
    with _STATS_LOCK:
        out = {name: float(_STATS[name]) for name in ("items", "timeouts", "crashes", "errors", "truncated")}
        if reset:
            _STATS.clear()
    return out


def _count(results: Sequence[VerifyResult], n_truncated: int) -> None:
    with _STATS_LOCK:
        _STATS["items"] += len(results) + n_truncated
        _STATS["truncated"] += n_truncated
        for result in results:
            if result.status == "timeout":
                _STATS["timeouts"] += 1
            elif result.status == "crash":
                _STATS["crashes"] += 1
            elif result.status == "error":
                _STATS["errors"] += 1


def is_truncated(extra_info: Mapping[str, Any] | None, truncated: bool | None = None) -> bool:
    """Whether the response was cut at the length limit (rule in the module docstring)."""
    global _WARNED_NO_TRUNCATION_INFO
    if truncated is not None:
        return bool(truncated)
    info = extra_info or {}
    if info.get("truncated") is not None:
        return bool(info["truncated"])
    length, limit = info.get("response_length"), info.get("max_response_length")
    if length is not None and limit is not None:
        return int(length) >= int(limit)
    if not _WARNED_NO_TRUNCATION_INFO:
        _WARNED_NO_TRUNCATION_INFO = True
        logger.warning(
            "math_reward: no truncation information (extra_info has no 'truncated'); truncated responses are scored "
            "like complete ones. Use reward.reward_manager.source=importlib, "
            "reward.reward_manager.module.path=pkg://verl_ext.rewards.manager, "
            "reward.reward_manager.name=TruncationAwareRewardManager to score them 0."
        )
    return False


def _gold_list(ground_truth: Any) -> list[str]:
    """Ground truths as strings: a string, or a list/array of acceptable answers (any one matches)."""
    if isinstance(ground_truth, str):
        return [ground_truth]
    if isinstance(ground_truth, Sequence | np.ndarray):
        return [str(g) for g in ground_truth]
    return [str(ground_truth)]


def _score_one(response: str, ground_truth: Any, timeout: float) -> VerifyResult:
    results = [pool().score(response, gold, timeout) for gold in _gold_list(ground_truth)]
    _count(results, 0)
    best = max(results, key=lambda r: r.score)
    return best if best.score > 0 else next((r for r in results if r.status != "ok"), best)


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    truncated: bool | None = None,
    timeout: float | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """verl custom reward: ``{"score", "acc", "timeout", "truncated"}``, each 0.0 or 1.0 (``score == acc``).

    ``score`` = 1 iff the response is not truncated and math-verify finds its final answer (the last boxed group
    or "final answer is" statement, else whatever math-verify extracts; ``verl_ext.rewards.answer``) equal to
    ``ground_truth``. ``timeout`` = 1 when the check hung
    or its worker crashed (scored 0). ``data_source`` is unused (one rule for every math source); extra ``kwargs``
    from verl (``reward_router_address``, ...) are ignored.
    """
    if is_truncated(extra_info, truncated):
        _count([], 1)
        return {"score": 0.0, "acc": 0.0, "timeout": 0.0, "truncated": 1.0}
    result = _score_one(solution_str, ground_truth, default_timeout() if timeout is None else timeout)
    hung = 1.0 if result.status in ("timeout", "crash") else 0.0
    return {"score": result.score, "acc": result.score, "timeout": hung, "truncated": 0.0}


def score_batch(
    responses: Sequence[str],
    ground_truths: Sequence[Any],
    truncated: Sequence[bool] | np.ndarray | None = None,
    timeout: float | None = None,
) -> np.ndarray:
    """Binary scores for many responses at once, in parallel over the worker pool (evaluation).

    Args:
        responses: B response texts.
        ground_truths: B ground truths (strings, or lists of acceptable strings).
        truncated: optional B booleans; truncated responses score 0 without being checked.
        timeout: seconds per item (default ``default_timeout()``).

    Returns:
        float64 array of shape (B,) with values in {0, 1}.
    """
    if len(responses) != len(ground_truths):
        raise ValueError(f"score_batch: {len(responses)} responses but {len(ground_truths)} ground truths")
    cut = np.zeros(len(responses), dtype=bool) if truncated is None else np.asarray(truncated, dtype=bool)
    if cut.shape != (len(responses),):
        raise ValueError(f"score_batch: truncated has shape {cut.shape}, expected ({len(responses)},)")
    limit = default_timeout() if timeout is None else timeout
    # flatten (response, gold) pairs so multi-answer ground truths also run in parallel
    pairs = [(i, responses[i], gold) for i in np.flatnonzero(~cut) for gold in _gold_list(ground_truths[i])]
    results = pool().score_many([p[1] for p in pairs], [p[2] for p in pairs], limit)
    _count(results, int(cut.sum()))
    scores = np.zeros(len(responses), dtype=np.float64)
    for (i, _, _), result in zip(pairs, results):
        scores[i] = max(scores[i], result.score)
    return scores
