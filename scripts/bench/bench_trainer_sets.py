"""Trainer bookkeeping per step before/after hoisting ``set(...)`` out of per-element loops (issue: quadratic sets).

Three expressions ran once per step on every handle of the step (``trainer.py`` ``step``; ``context.py``
``release`` / ``commit``). Before, each rebuilt a set of all uids *for every element*; after, the set is built once
(``verl_ext.trainer.metrics.released_groups``, ``verl_ext.trainer.context.with_continuations``). This times both on
one synthetic step with the sizes of a DS (k·m candidates per round) or SPEED (m continuations aliased) step at
m = 512, and prints the ratio.

Usage::

    .venv/bin/python scripts/bench/bench_trainer_sets.py --m 512 --k 2 --rounds 3 --repeats 3
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable

import numpy as np

from verl_ext.curriculum.base import Group
from verl_ext.trainer.context import with_continuations
from verl_ext.trainer.metrics import released_groups


def _before_screened(generated: dict[str, Group], released: list[str]) -> list[Group]:
    return [g for h, g in generated.items() if h in set(released)]  # the old trainer.step line


def _before_release(uids: list[str], aliases: dict[str, str]) -> set[str]:
    return set(uids + [c for c, base in aliases.items() if base in set(uids)])  # the old ctx.release line


def _best(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=512, help="prompts trained per step")
    parser.add_argument("--k", type=int, default=2, help="DS candidate multiplier (k·m per round)")
    parser.add_argument("--rounds", type=int, default=3, help="DS generation rounds in the step")
    parser.add_argument("--repeats", type=int, default=3, help="timings per expression (best kept)")
    args = parser.parse_args()

    m, k, rounds = args.m, args.k, args.rounds
    handles = [uuid.uuid4().hex for _ in range(k * m * rounds)]
    generated = {h: Group(handle=h, index=i, rewards=np.zeros(4)) for i, h in enumerate(handles)}
    released = handles[m:]  # all but the m trained groups were screening / surplus
    # SPEED: m accepted groups, each with one continuation uid aliased to it, plus as many carried aliases
    bases = handles[: 2 * m]
    aliases = {uuid.uuid4().hex: b for b in bases}
    chosen = bases[:m]

    assert _before_screened(generated, released) == released_groups(generated, released)
    assert _before_release(chosen, aliases) == with_continuations(chosen, aliases)
    rows = [
        ("trainer.step screened groups", len(generated), len(released),
         _best(lambda: _before_screened(generated, released), args.repeats),
         _best(lambda: released_groups(generated, released), args.repeats)),
        ("ctx.release/commit continuations", len(aliases), len(chosen),
         _best(lambda: _before_release(chosen, aliases), args.repeats),
         _best(lambda: with_continuations(chosen, aliases), args.repeats)),
    ]  # fmt: skip
    print(f"m = {m}, k = {k}, rounds = {rounds}")
    print(f"{'expression':36s} {'elements':>9s} {'set size':>9s} {'before s':>10s} {'after s':>10s} {'ratio':>9s}")
    for name, elements, size, before, after in rows:
        print(f"{name:36s} {elements:9d} {size:9d} {before:10.4f} {after:10.6f} {before / after:9.0f}x")


if __name__ == "__main__":
    main()
