"""Per-step cost of the ``cures_online`` sampler (formerly CurES paper mode) vs the released (frozen-weight) sampler.

Paper mode, per step: posterior update of the previous batch + incremental ρ* refresh (``cures/update_s``),
then the draw of m distinct prompts + allocation (``cures/select_s`` includes the update as well; docs/cures.md).
The released sampler draws with ``Generator.choice(P, m, replace=False, p)`` on the frozen weights of
:func:`verl_ext.curriculum.cures_release.release_weights`, built once per subset (outside the timing).
For reference the script also times a plain full recompute (exp over the pool) + ``Generator.choice``.

Usage::

    .venv/bin/python scripts/bench/bench_cures_sampler.py --pools 10000 100000 1000000 --steps 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from verl_ext.curriculum.cures import log_weights
from verl_ext.curriculum.cures_online import CuresOnlineConfig, CuresOnlineCurriculum
from verl_ext.curriculum.cures_release import release_weights
from verl_ext.curriculum.testing import FakeRolloutContext


def bench_paper(pool: int, m: int, steps: int, seed: int) -> dict[str, float]:
    """Median update/select/metrics ms of CurES paper mode over ``steps`` steps (first 2 are warm-up)."""
    rates = np.random.default_rng(seed).beta(0.5, 0.5, pool)
    cur = CuresOnlineCurriculum(CuresOnlineConfig(batch_size=m, n=8, seed=seed), pool)
    ctx = FakeRolloutContext(rates, seed=seed)
    upd, sel, met, full = [], [], [], []
    for _ in range(steps + 2):
        metrics = cur.run_step(ctx)
        obs = cur.observe(ctx.committed_with_rewards())
        ctx.new_step()
        sel.append(metrics["cures/select_s"] * 1e3)
        met.append(metrics["cures/metrics_s"] * 1e3)
        upd.append(obs["cures/update_s"] * 1e3)
        t0 = time.perf_counter()  # naive alternative: recompute every weight, then numpy's weighted choice
        w = np.exp(log_weights(cur.posterior.mean(), cur.config.tau))
        cur.rng.spawn(1)[0].choice(pool, m, replace=False, p=w / w.sum())
        full.append((time.perf_counter() - t0) * 1e3)
    med = lambda xs: float(np.median(xs[2:]))  # noqa: E731
    return {"update_ms": med(upd), "select_ms": med(sel), "metrics_ms": med(met), "full_recompute_ms": med(full)}


def bench_released(pool: int, m: int, steps: int, seed: int) -> float:
    """Median ms per batch of the released sampler (weights built once, outside the timing)."""
    k = np.random.default_rng(seed).integers(0, 5, pool)
    w = release_weights(k)
    probs, rng = w / w.sum(), np.random.default_rng(seed)
    times = []
    for _ in range(steps + 2):
        t0 = time.perf_counter()
        rng.choice(pool, m, replace=False, p=probs)
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times[2:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--batch", type=int, default=1024, help="m, prompts per step")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per pool (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    header = (
        f"{'pool':>9} | {'ours update':>11} | {'ours select':>11} | {'ours metrics':>12} | "
        f"{'full recompute':>14} | {'released draw':>13} | {'ours/released':>13}"
    )
    print(f"CurES sampler per-step cost, m={args.batch}, median of {args.steps} steps, milliseconds")
    print(header)
    print("-" * len(header))
    for pool in args.pools:
        ours = bench_paper(pool, args.batch, args.steps, args.seed)
        released = bench_released(pool, args.batch, args.steps, args.seed)
        print(
            f"{pool:>9} | {ours['update_ms']:>11.2f} | {ours['select_ms']:>11.2f} | {ours['metrics_ms']:>12.2f} | "
            f"{ours['full_recompute_ms']:>14.2f} | {released:>13.2f} | {ours['select_ms'] / released:>13.2f}"
        )
    print(
        "\nours select = posterior update + incremental ρ* refresh + draw of m distinct + allocation "
        "(cures/select_s; 'update' is the posterior+refresh part of it).\n"
        "released draw = Generator.choice(P, m, replace=False, p) on weights built once per subset: the released "
        "sampler never recomputes its probabilities, while ours must every step (the posterior changes).\n"
        "full recompute = what ours would cost without the incremental cache (exp over the pool + Generator.choice).\n"
        "ours metrics = pool quantiles/entropy/ESS for logging, outside select_s."
    )


if __name__ == "__main__":
    main()
