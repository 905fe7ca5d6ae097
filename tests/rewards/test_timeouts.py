"""Hangs, crashes and parser bombs: each item returns within its timeout, scores 0, is counted, and the pool
keeps working afterwards."""

from __future__ import annotations

import threading
import time

import pytest

from verl_ext.rewards import math_reward
from verl_ext.rewards.math_reward import compute_score, reward_stats
from verl_ext.rewards.verify_worker import CRASH_SENTINEL, HANG_SENTINEL

TEST_TIMEOUT_S = 2.0  # seconds per item: short, so the suite stays fast

# Slack for process scheduling on a loaded 2-core machine: the parent stops waiting at the timeout.
SLACK_S = 1.0

ADVERSARIAL = {
    "nested_braces": r"\boxed{" + "{" * 5000 + "1" + "}" * 5000 + "}",
    "exponent_tower": r"\boxed{10^{10^{10^{10}}}}",
    "power_two_tower": r"\boxed{2^{2^{2^{2^{2^{2^{2}}}}}}}",
    "huge_factorial": r"\boxed{9999999!}",
    "factorial_of_power": r"\boxed{(10^{8})!}",
    "long_sum_100k_chars": "1+" * 50_000 + "1",
    "deep_fractions": r"\boxed{" + r"\frac{1}{" * 2000 + "1" + "}" * 2000 + "}",
    "deep_sqrt": r"\boxed{" + r"\sqrt{" * 1500 + "2" + "}" * 1500 + "}",
    "symbolic_tower": r"\boxed{x^{x^{x^{x^{x^{x^{x^{x}}}}}}}}",
    "letters_100k": r"\boxed{" + "a" * 100_000 + "}",
    "wide_matrix": r"\boxed{\begin{pmatrix}" + "&".join(["1"] * 2000) + r"\end{pmatrix}}",
    "unbalanced_parens": "(" * 20_000 + "1",
    "huge_sum": r"\boxed{\sum_{n=1}^{10^{12}} n^{n}}",
    "unclosed_box_long": r"\boxed{1" + " x" * 50_000,
    "nul_bytes": "\x00" * 10_000 + r"\boxed{1}",
}


@pytest.mark.slow
def test_adversarial_inputs_are_bounded_and_score_zero() -> None:
    # gold "2" is the right answer to none of them: every outcome (timeout, error, wrong) must score 0.
    # Scored in parallel over the pool; ``elapsed`` is each item's own time from hand-over to answer/timeout.
    names = sorted(ADVERSARIAL)
    start = time.monotonic()
    results = math_reward.pool().score_many([ADVERSARIAL[n] for n in names], ["2"] * len(names), TEST_TIMEOUT_S)
    for name, result in zip(names, results):
        assert result.score == 0.0, name
        assert result.elapsed < TEST_TIMEOUT_S + SLACK_S, (name, result)
        assert result.status in ("ok", "error", "timeout"), (name, result)
    assert sum(r.status == "timeout" for r in results) >= 1  # some of these do blow up the parser
    # wall time: items share 2 workers, plus a few seconds per replacement worker's start-up
    assert time.monotonic() - start < len(names) * (TEST_TIMEOUT_S + 5.0)


def test_timeouts_are_counted_by_compute_score() -> None:
    before = reward_stats()
    out = compute_score("m", ADVERSARIAL["exponent_tower"], "2", truncated=False, timeout=TEST_TIMEOUT_S)
    assert out["score"] == 0.0
    after = reward_stats()
    assert after["timeouts"] - before["timeouts"] == out["timeout"]
    assert after["items"] == before["items"] + 1


def test_injected_hang_is_killed_scored_zero_and_pool_recovers(ready_pool: math_reward.VerifyPool) -> None:
    before = reward_stats()["timeouts"]
    pids = {w.proc.pid for w in ready_pool._workers}
    start = time.monotonic()
    out = compute_score("m", HANG_SENTINEL, "1", truncated=False, timeout=TEST_TIMEOUT_S)
    assert time.monotonic() - start < TEST_TIMEOUT_S + SLACK_S
    assert out == {"score": 0.0, "acc": 0.0, "timeout": 1.0, "truncated": 0.0}
    assert reward_stats()["timeouts"] == before + 1
    # the hung worker was replaced, the pool kept its size, and it still scores correctly
    assert len(ready_pool._workers) == ready_pool.num_workers
    assert {w.proc.pid for w in ready_pool._workers} != pids
    assert all(w.proc.is_alive() for w in ready_pool._workers)
    for _ in range(2 * ready_pool.num_workers):  # goes through every worker, the fresh one included
        assert compute_score("m", r"\boxed{\frac{1}{2}}", "0.5", truncated=False)["score"] == 1.0


def test_injected_crash_scores_zero_and_is_counted(ready_pool: math_reward.VerifyPool) -> None:
    before = reward_stats()["crashes"]
    out = compute_score("m", CRASH_SENTINEL, "1", truncated=False, timeout=TEST_TIMEOUT_S)
    assert out["score"] == 0.0 and out["timeout"] == 1.0
    assert reward_stats()["crashes"] == before + 1
    for _ in range(2 * ready_pool.num_workers):
        assert compute_score("m", r"\boxed{3}", "3", truncated=False)["score"] == 1.0


def test_hangs_from_many_threads_do_not_block_each_other(ready_pool: math_reward.VerifyPool) -> None:
    # verl calls reward functions from a thread pool: two hangs and good items at once must all finish
    results: dict[int, dict] = {}

    def work(i: int) -> None:
        text = HANG_SENTINEL if i < 2 else rf"\boxed{{{i}}}"
        results[i] = compute_score("m", text, str(i), truncated=False, timeout=TEST_TIMEOUT_S)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert [results[i]["score"] for i in range(6)] == [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    assert [results[i]["timeout"] for i in range(6)] == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    assert time.monotonic() - start < 60


def test_hang_inside_score_batch() -> None:
    scores = math_reward.score_batch([HANG_SENTINEL, r"\boxed{5}"], ["1", "5"], timeout=TEST_TIMEOUT_S)
    assert scores.tolist() == [0.0, 1.0]


def test_worker_start_failure_is_raised_not_scored_zero() -> None:
    from verl_ext.rewards.pool import VerifyPool, WorkerStartError

    # a worker that dies before it is ready is a setup problem (e.g. an unguarded main script): raised, not scored.
    # The kill lands microseconds after start(), long before the worker can import anything and report ready.
    broken = VerifyPool(1)
    (worker,) = broken._workers
    worker.proc.kill()
    try:
        with pytest.raises(WorkerStartError, match="exited during start-up"):
            broken.score(r"\boxed{1}", "1", TEST_TIMEOUT_S)
    finally:
        broken.close()
