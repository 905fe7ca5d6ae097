"""Time the exact knapsack rollout allocation against the project's other allocators, in one run.

At m prompts and a budget N = m·n (default m = 1024, N = 8192, bounds [2, 128], p ~ U(0, 1)), this times

- ``knapsack``: :func:`verl_ext.curriculum.knapsack.allocate_knapsack` (exact, top-K marginal gains);
- ``knapsack_step``: the strategy's whole per-step allocation (:meth:`KnapsackCurriculum.allocate`: categories,
  posterior means, knapsack, surplus) on a posterior with history;
- baselines: GVM's allocator (``verl_ext.curriculum.gvm.allocate_rollouts``) and CurES's Neyman allocation
  (``verl_ext.curriculum.cures.neyman_allocation``) on the same p,

prints the best-of-``repeats`` milliseconds of each and the ratios to the baselines, and checks the knapsack result
(sum, bounds, and optimality against a heap greedy on the same marginal gains at this size).

Usage::

    .venv/bin/python scripts/bench/bench_knapsack.py --m 1024 --n 8 --repeats 20
"""

from __future__ import annotations

import argparse
import heapq
import time
from collections.abc import Callable

import numpy as np

from verl_ext.curriculum.cures import bernoulli_sigma
from verl_ext.curriculum.cures import neyman_allocation as cures_allocate
from verl_ext.curriculum.gvm import allocate_rollouts as gvm_allocate
from verl_ext.curriculum.knapsack import KnapsackConfig, KnapsackCurriculum, allocate_knapsack, knapsack_value


def _best_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


def _heap_greedy_value(p: np.ndarray, budget: int, lo: int, hi: int) -> float:
    """Independent check: one unit at a time to the largest marginal gain (a heap), value of the result."""
    n = np.full(p.size, lo)
    heap = [(-(knapsack_value(p[i], lo + 1) - knapsack_value(p[i], lo)), i) for i in range(p.size)]
    heapq.heapify(heap)
    for _ in range(budget - lo * p.size):
        _, i = heapq.heappop(heap)
        n[i] += 1
        if n[i] < hi:
            heapq.heappush(heap, (-(knapsack_value(p[i], n[i] + 1) - knapsack_value(p[i], n[i])), i))
    return float(knapsack_value(p, n).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=1024, help="prompts per step")
    parser.add_argument("--n", type=int, default=8, help="mean responses per prompt (N = m·n)")
    parser.add_argument("--n-min", type=int, default=2)
    parser.add_argument("--n-max", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=20, help="timings per allocator (best kept)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    m, budget = args.m, args.m * args.n
    p = rng.random(m)
    counts = rng.integers(1, 17, size=m)
    succ = rng.binomial(counts, p)

    n = allocate_knapsack(p, budget, args.n_min, args.n_max)
    assert n.sum() == budget and n.min() >= args.n_min and n.max() <= args.n_max
    exact, greedy = float(knapsack_value(p, n).sum()), _heap_greedy_value(p, budget, args.n_min, args.n_max)
    assert abs(exact - greedy) <= 1e-9 * max(1.0, abs(greedy)), (exact, greedy)

    cur = KnapsackCurriculum(KnapsackConfig(batch_size=m, n=args.n, n_min=args.n_min, n_max=args.n_max), 4 * m)
    idx = np.arange(m)
    cur.posterior.update(idx, succ, counts)
    cur.last_outcome[idx] = np.where(succ == 0, 0, np.where(succ == counts, 1, 2))

    grad_norm = rng.uniform(0.5, 3.0, size=m)
    sigma = bernoulli_sigma(succ + 1.0, counts - succ + 1.0)
    timings = {
        "knapsack": _best_ms(lambda: allocate_knapsack(p, budget, args.n_min, args.n_max), args.repeats),
        "knapsack_step": _best_ms(lambda: cur.allocate(idx), args.repeats),
        "gvm": _best_ms(lambda: gvm_allocate(grad_norm, p, budget), args.repeats),
        "cures_neyman": _best_ms(lambda: cures_allocate(sigma, budget, args.n_min, args.n_max), args.repeats),
    }
    print(f"m = {m}, N = {budget}, bounds [{args.n_min}, {args.n_max}], best of {args.repeats}")
    print(f"knapsack value {exact:.6f} (heap greedy {greedy:.6f}); allocation min/mean/max", n.min(), n.mean(), n.max())
    for name, ms in timings.items():
        print(f"{name:>14}: {ms:8.3f} ms")
    print(f"knapsack / gvm = {timings['knapsack'] / timings['gvm']:.2f}x, "
          f"knapsack / cures_neyman = {timings['knapsack'] / timings['cures_neyman']:.2f}x")  # fmt: skip
    print(f"knapsack {'within' if timings['knapsack'] <= 20.0 else 'OVER'} the 20 ms target")


if __name__ == "__main__":
    main()
