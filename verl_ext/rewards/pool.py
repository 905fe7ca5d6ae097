"""A small pool of math-verify worker processes with a per-item timeout enforced by the parent.

Why not ``concurrent.futures.ProcessPoolExecutor``: a task that hangs keeps its worker forever there (a future
cannot be cancelled once running), so a few pathological answers would starve the pool. Here each worker is a
process (``forkserver``, else ``spawn``: never a plain fork of a threaded process) with its own pipe; a caller
borrows one idle worker, sends one task and polls the pipe with the timeout. On a timeout (or a crash) the worker is
killed and a fresh one is started in its place, so the pool keeps its size and later calls are unaffected. Start-up
(importing sympy) is not charged to any task's timeout: a worker announces "ready" first and a borrower waits for that
separately.

Thread-safe: idle workers live in a ``queue.Queue``; one worker serves one borrower at a time.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection

from verl_ext.rewards.verify_worker import TEST_HOOKS_ENV, worker_main

logger = logging.getLogger(__name__)

STATUSES = ("ok", "error", "timeout", "crash")


@dataclass(frozen=True)
class VerifyResult:
    """One scored item: ``score`` in {0, 1}; ``status`` is one of ``STATUSES`` (anything but ok scores 0);
    ``elapsed``: seconds from sending the task to its answer or timeout (excludes waiting for a free worker)."""

    score: float
    status: str
    error: str | None = None
    elapsed: float = 0.0


def _start_context() -> multiprocessing.context.BaseContext:
    """``forkserver`` with math-verify preloaded where available, else ``spawn`` (``$VERL_EXT_REWARD_START=spawn``).

    Both start workers from a clean single-threaded process (``fork`` from a threaded Ray actor is unsafe). The fork
    server imports sympy/math-verify once, so a worker replaced after a timeout is ready in about 0.3 s instead of
    1.5-2 s (measured on 2 cores). Like spawn, a worker re-imports the caller's ``__main__`` (scripts need a guard).
    """
    method = os.environ.get("VERL_EXT_REWARD_START", "forkserver")
    if method == "forkserver" and method in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["verl_ext.rewards.verify_worker", "math_verify"])
        return ctx
    return multiprocessing.get_context("spawn")


class WorkerStartError(RuntimeError):
    """A worker process died before it was ready: a setup problem, not a bad item, so it is raised."""


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, ctx: multiprocessing.context.BaseContext, max_memory_mb: int, test_hooks: bool) -> None:
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(
            target=worker_main, args=(child_conn, max_memory_mb, test_hooks), daemon=True, name="verl_ext-math-verify"
        )
        self.proc.start()
        child_conn.close()  # keep only the parent's end here, so a dead worker shows up as EOF
        self.conn: Connection = parent_conn
        self.ready = False
        self.next_task = 0

    def wait_ready(self, timeout: float) -> bool:
        """Block until the worker has imported math-verify; False if it did not within ``timeout`` seconds."""
        if not self.ready and self.conn.poll(timeout):
            try:
                message = self.conn.recv()
            except EOFError:
                self.proc.join(timeout=5)
                raise WorkerStartError(
                    f"the math-verify worker process exited during start-up (exit code {self.proc.exitcode}). "
                    "Workers start with 'forkserver'/'spawn', which re-import the main script: a script that scores "
                    "at import time must guard its code with `if __name__ == '__main__':`."
                ) from None
            self.ready = message[0] == "ready"
        return self.ready

    def run(self, response: str, ground_truth: str, timeout: float) -> VerifyResult:
        """Send one task and wait at most ``timeout`` seconds. Raises EOFError/OSError if the worker died."""
        self.next_task += 1
        start = time.monotonic()
        self.conn.send((self.next_task, response, ground_truth))
        if not self.conn.poll(timeout):
            return VerifyResult(0.0, "timeout", None, time.monotonic() - start)
        task_id, score, error = self.conn.recv()
        if task_id != self.next_task:  # cannot happen with one borrower at a time; guard against silent mix-ups
            raise OSError(f"reward worker answered task {task_id}, expected {self.next_task}")
        return VerifyResult(float(score), "ok" if error is None else "error", error, time.monotonic() - start)

    def kill(self) -> None:
        """SIGKILL (a parser stuck inside one C call ignores SIGTERM-style interruption) and reap."""
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=10)
        self.conn.close()


class VerifyPool:
    """``num_workers`` math-verify processes; ``score``/``score_many`` never block longer than their timeout.

    Args:
        num_workers: processes in the pool (each serves one item at a time).
        max_memory_mb: address-space cap per worker (0 = none); a parser that explodes gets MemoryError.
        startup_timeout: seconds a borrower waits for a fresh worker to import math-verify.
    """

    def __init__(self, num_workers: int, max_memory_mb: int = 4096, startup_timeout: float = 120.0) -> None:
        if num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers}")
        self.num_workers = num_workers
        self.max_memory_mb = max_memory_mb
        self.startup_timeout = startup_timeout
        self.owner_pid = os.getpid()
        self.test_hooks = os.environ.get(TEST_HOOKS_ENV) == "1"
        self._ctx = _start_context()
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._workers: set[_Worker] = set()
        self._closed = False
        self.stats: Counter[str] = Counter()
        for _ in range(num_workers):
            self._idle.put(self._spawn())

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self.max_memory_mb, self.test_hooks)
        with self._lock:
            self._workers.add(worker)
        return worker

    def _replace(self, worker: _Worker) -> _Worker:
        worker.kill()
        with self._lock:
            self._workers.discard(worker)
            self.stats["restarts"] += 1
        return self._spawn()

    def score(self, response: str, ground_truth: str, timeout: float) -> VerifyResult:
        """Score one response; a hang past ``timeout`` seconds or a worker crash scores 0 and is counted."""
        if self._closed:
            raise RuntimeError("VerifyPool is closed; create a new one (math_reward.reset_pool())")
        worker = self._idle.get()
        result = VerifyResult(0.0, "crash", "interrupted")
        try:
            if not worker.wait_ready(self.startup_timeout):
                raise OSError(f"reward worker did not start within {self.startup_timeout:.0f} s")
            result = worker.run(response, ground_truth, timeout)
        except WorkerStartError:
            result = VerifyResult(0.0, "crash", "start-up failed")
            raise
        except (EOFError, OSError) as err:
            logger.warning("math-verify worker crashed (%s); restarting it, item scored 0", err)
            result = VerifyResult(0.0, "crash", str(err)[:200])
        finally:
            # always hand a live worker back, even if this thread was interrupted mid-task
            if result.status in ("timeout", "crash"):
                worker = self._replace(worker)
            self._idle.put(worker)
        with self._lock:
            self.stats["calls"] += 1
            self.stats[result.status] += 1
        return result

    def warm_up(self) -> None:
        """Wait until every worker has started (e.g. before timing, or before the first training step)."""
        borrowed = [self._idle.get() for _ in range(self.num_workers)]
        try:
            for worker in borrowed:
                if not worker.wait_ready(self.startup_timeout):
                    raise WorkerStartError(f"a math-verify worker did not start within {self.startup_timeout:.0f} s")
        finally:
            for worker in borrowed:
                self._idle.put(worker)

    def score_many(self, responses: Sequence[str], ground_truths: Sequence[str], timeout: float) -> list[VerifyResult]:
        """Score pairs in parallel over the pool's workers (one thread per worker), in input order."""
        if len(responses) != len(ground_truths):
            raise ValueError(f"{len(responses)} responses but {len(ground_truths)} ground truths")
        with ThreadPoolExecutor(max_workers=self.num_workers, thread_name_prefix="math-verify") as executor:
            return list(executor.map(lambda pair: self.score(pair[0], pair[1], timeout), zip(responses, ground_truths)))

    def close(self) -> None:
        """Kill every worker. Safe to call twice."""
        self._closed = True
        with self._lock:
            workers, self._workers = list(self._workers), set()
        for worker in workers:
            worker.kill()


_POOL: VerifyPool | None = None
_POOL_LOCK = threading.Lock()


def get_pool(num_workers: int, max_memory_mb: int) -> VerifyPool:
    """The process-wide pool, created on first use (and again in a forked child, which must not share pipes)."""
    global _POOL
    pool = _POOL
    if pool is not None and pool.owner_pid == os.getpid() and not pool._closed:
        return pool
    with _POOL_LOCK:
        if _POOL is None or _POOL.owner_pid != os.getpid() or _POOL._closed:
            _POOL = VerifyPool(num_workers, max_memory_mb=max_memory_mb)
        return _POOL


def close_pool() -> None:
    """Kill the process-wide pool's workers (registered at exit; tests call it to start fresh)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None and _POOL.owner_pid == os.getpid():
            _POOL.close()
        _POOL = None


atexit.register(close_pool)
