"""What runs inside a reward worker process: math-verify with its own timeouts off.

math-verify's built-in timeouts use ``signal.alarm``, which raises off the main thread (verl calls reward functions
from a thread pool inside Ray actors). So the parent process enforces the timeout by killing this process, and here
every math-verify call gets ``parsing_timeout=None`` / ``timeout_seconds=None``.

The process loop speaks a tiny protocol over one ``multiprocessing`` pipe:
parent → ``(task_id, response, ground_truth)``; worker → ``("ready", pid)`` once after start-up, then
``(task_id, score, error)`` per task. ``error`` is None or a short string (an exception inside math-verify is
scored 0 and reported, it does not kill the worker).
"""

from __future__ import annotations

import logging
import os
import resource
import time
from multiprocessing.connection import Connection

from verl_ext.rewards.answer import answers_match

logger = logging.getLogger(__name__)

# Test hooks, active only in pools created while this variable is "1" in the parent (never in training):
# a response equal to HANG_SENTINEL sleeps forever (an injected hang), CRASH_SENTINEL exits the process abruptly.
TEST_HOOKS_ENV = "VERL_EXT_REWARD_TEST_HOOKS"
HANG_SENTINEL = "<<verl_ext: hang the reward worker>>"
CRASH_SENTINEL = "<<verl_ext: crash the reward worker>>"


def verify_answer(response: str, ground_truth: str, test_hooks: bool = False) -> float:
    """1.0 if math-verify finds the response's final answer equal to the ground truth, else 0.0.

    Which text is parsed, and how, is ``verl_ext.rewards.answer``'s. math-verify's signal-based timeouts are off:
    call it only where the caller bounds the time (the worker process below), never directly in a training process.
    """
    if test_hooks:
        _run_test_hooks(response)
    return 1.0 if answers_match(response, ground_truth) else 0.0


def _run_test_hooks(response: str) -> None:
    if response == HANG_SENTINEL:
        while True:
            time.sleep(3600)
    if response == CRASH_SENTINEL:
        os._exit(3)


def _limit_memory(max_memory_mb: int) -> None:
    """Cap the address space so a parser that builds a gigantic integer fails with MemoryError, not the node."""
    if max_memory_mb <= 0:
        return
    limit = max_memory_mb * 1024 * 1024
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError) as err:  # e.g. a hard limit already lower than ours
        logger.warning("reward worker: could not set a %d MB memory limit: %s", max_memory_mb, err)


def worker_main(conn: Connection, max_memory_mb: int, test_hooks: bool = False) -> None:
    """Process entry point: warm up math-verify, say ready, then score tasks until the pipe closes."""
    _limit_memory(max_memory_mb)
    # math-verify warns on every call that its own timeout is off: expected here, the parent enforces one
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    verify_answer("\\boxed{1}", "1")  # import sympy/antlr now so the first timed task is not charged for it
    conn.send(("ready", os.getpid()))
    while True:
        try:
            task_id, response, ground_truth = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone: exit instead of lingering as an orphan
        try:
            score, error = verify_answer(response, ground_truth, test_hooks), None
        except MemoryError:
            score, error = 0.0, "MemoryError"
        except Exception as err:  # math-verify raised: score 0, keep serving
            score, error = 0.0, f"{type(err).__name__}: {str(err)[:200]}"
        try:
            conn.send((task_id, score, error))
        except (BrokenPipeError, OSError):
            return
