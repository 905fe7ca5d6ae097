"""Selection + allocation benchmark of the composable parts: every estimator and every allocator at a 10^6-prompt pool,
m = 1024, in one run (docs/methods/composed.md).

Each row is one strategy driven for ``--warmup`` then ``--steps`` full steps (run_step → observe) on a fake rollout
context with Bernoulli rewards (success rates ~ U(0, 1), seeded). The time of a step is the strategy's own time:
run_step + observe minus the time spent inside the context (generating fake rewards, group handles), so probe
rollouts and value-model forwards cost nothing here; what remains is the estimator's bookkeeping, scoring, selection
and allocation. The table gives the median ms/step of process CPU time (robust on a shared machine; these numpy
paths are single-threaded, so it is the wall time of an idle core), its ratio to the fixed-n ``uniform`` baseline of
the same run, and the median wall-clock ms/step as measured (inflated by other processes on a loaded machine). Rows:

- ``uniform``: the baseline (next m prompts of a pass, n each);
- ``est=<e>``: each estimator at ``ratio`` candidates per slot, distance score, top-k, fixed n;
- ``alloc=<a>``: each allocator after the ``beta`` estimator on m pass prompts (ratio 1: no selection);
- ``pool softmax``: ρ* over the whole pool (CurES Eq. 14) with a maintained sum tree (``beta``) and recomputed every
  step (``thompson``);
- each preset next to its named strategy (same choices, see tests/curriculum/test_composed.py).

Usage::

    .venv/bin/python scripts/bench/bench_parts.py --prompts 1000000 --m 1024 --n 8 --steps 15
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from verl_ext.curriculum import build_curriculum
from verl_ext.curriculum.base import Group
from verl_ext.curriculum.compose import preset_params
from verl_ext.curriculum.testing import FakeRolloutContext


class TimedContext(FakeRolloutContext):
    """A fake context that adds up the wall and CPU time spent inside it (subtracted from the strategy's step time)."""

    ctx_s = 0.0
    ctx_cpu_s = 0.0

    def _timed(self, fn: Any, *args: Any) -> Any:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return fn(*args)
        finally:
            self.ctx_s += time.perf_counter() - t0
            self.ctx_cpu_s += time.process_time() - c0

    def generate(self, indices: np.ndarray, n: int | np.ndarray) -> list[Group]:
        return self._timed(super().generate, indices, n)

    def submit(self, indices: np.ndarray, n: int | np.ndarray) -> list[Group]:
        return self._timed(super().submit, indices, n)

    def release(self, groups: Sequence[Group]) -> None:
        return self._timed(super().release, groups)

    def commit(self, groups: Sequence[Group]) -> None:
        return self._timed(super().commit, groups)

    def score(self, indices: np.ndarray) -> np.ndarray:
        return self._timed(super().score, indices)


def rows(ratio: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, registered name, params) of every benchmarked strategy."""
    out: list[tuple[str, str, dict[str, Any]]] = [("uniform (baseline)", "uniform", {})]
    for est in ("beta", "thompson", "value", "probe"):
        out.append((f"est={est}", "composed", {"estimator": est, "score": "distance", "ratio": ratio}))
    for alloc in ("fixed", "neyman", "gvm", "knapsack"):
        out.append((f"alloc={alloc}", "composed", {"estimator": "beta", "score": "distance", "ratio": 1,
                                                   "allocator": alloc}))  # fmt: skip
    for est in ("beta", "thompson"):
        out.append((f"pool softmax est={est}", "composed", {"candidates": "pool", "estimator": est, "score": "cures",
                                                            "allocator": "neyman"}))  # fmt: skip
    for name in ("mopps", "knapsack", "cures_online", "pcl", "probe"):
        out.append((f"{name} (named)", name, {}))
        out.append((f"{name} (preset)", "composed", {"preset": name}))
    return out


def bench(name: str, params: dict[str, Any], rates: np.ndarray, args: argparse.Namespace) -> tuple[float, float, str]:
    """Median CPU and wall ms/step of the strategy's own time, and its composition."""
    full = {"batch_size": args.m, "n": args.n, "seed": args.seed, **params}
    cur = build_curriculum(name, full, num_prompts=rates.size)
    ctx = TimedContext(rates, seed=args.seed, value_fn=lambda i: rates[i])
    wall, cpu = [], []
    for step in range(args.warmup + args.steps):
        ctx.ctx_s = ctx.ctx_cpu_s = 0.0
        t0, c0 = time.perf_counter(), time.process_time()
        cur.run_step(ctx)
        t1, c1 = time.perf_counter(), time.process_time()
        trained, screened = ctx.committed_with_rewards(), ctx.screened_with_rewards()
        t2, c2 = time.perf_counter(), time.process_time()
        cur.observe(trained, screened)
        t3, c3 = time.perf_counter(), time.process_time()
        if step >= args.warmup:
            wall.append(1e3 * ((t1 - t0) + (t3 - t2) - ctx.ctx_s))
            cpu.append(1e3 * ((c1 - c0) + (c3 - c2) - ctx.ctx_cpu_s))
        ctx.new_step()
    composition = cur.config.composition() if hasattr(cur.config, "composition") else "-"
    return statistics.median(cpu), statistics.median(wall), composition


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1_000_000, help="pool size P")
    parser.add_argument("--m", type=int, default=1024, help="prompts per step")
    parser.add_argument("--n", type=int, default=8, help="mean responses per prompt (N = m·n)")
    parser.add_argument("--ratio", type=int, default=4, help="candidates per slot of the est=<e> rows")
    parser.add_argument("--steps", type=int, default=15, help="measured steps per row (median reported)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured steps first (posterior gets evidence)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rates = np.random.default_rng(args.seed).uniform(0.0, 1.0, args.prompts)
    for name in ("mopps", "knapsack", "cures_online", "pcl", "probe"):
        preset_params(name, {})  # every preset row is a translatable named strategy
    results = []
    for label, name, params in rows(args.ratio):
        cpu_ms, wall_ms, comp = bench(name, params, rates, args)
        results.append((label, comp, cpu_ms, wall_ms))
    base = results[0][2]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"Selection + allocation per step: P={args.prompts:,} prompts, m={args.m}, n={args.n} (N={args.m * args.n}), "
        f"median of {args.steps} steps after {args.warmup} warm-up, strategy time only (context time subtracted); "
        f"python {platform.python_version()}, numpy {np.__version__}, load average {load:.1f} at the end"
    )
    header = (
        f"| {'row':<26} | {'estimator x score/select x allocator':<40} | {'CPU ms/step':>11} | {'x uniform':>9} "
        f"| {'wall ms/step':>12} |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for label, comp, cpu_ms, wall_ms in results:
        print(f"| {label:<26} | {comp:<40} | {cpu_ms:>11.3f} | {cpu_ms / base:>9.1f} | {wall_ms:>12.3f} |")


if __name__ == "__main__":
    main()
