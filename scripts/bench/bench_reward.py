"""Throughput of the binary math reward on this machine: answers/second, sequential and batched.

Usage:
    python scripts/bench/bench_reward.py [--n 400] [--workers N] [--timeout S]

The mix: half correct, half wrong answers in typical shapes (boxed integers, fractions, radicals, intervals, sets,
text), each inside a few sentences of reasoning, as a model would write them. Reports pool start-up time
separately (paid once per process).
"""

from __future__ import annotations

import argparse
import os
import time

from verl_ext.rewards import math_reward

CASES = [
    ("\\frac{1}{2}", "0.5", "\\frac{1}{3}"),
    ("42", "42", "41"),
    ("2\\sqrt{3}", "\\sqrt{12}", "3\\sqrt{2}"),
    ("(1, 2]", "(1,2]", "[1,2]"),
    ("\\{1, 2, 3\\}", "\\{3,2,1\\}", "\\{1,2\\}"),
    ("\\text{Monday}", "\\text{Monday}", "\\text{Tuesday}"),
    ("-7", "-7", "7"),
    ("x^2+2x+1", "(x+1)^2", "x^2+1"),
    ("90^\\circ", "90", "45"),
    ("\\frac{\\pi}{4}", "\\frac{\\pi}{4}", "\\frac{\\pi}{2}"),
]
REASONING = "Let us compute step by step. First we simplify the expression, then we check the constraints. "


def make_mix(n: int) -> tuple[list[str], list[str], list[float]]:
    """``n`` responses, ground truths and expected scores: alternating correct and wrong answers."""
    responses, golds, expected = [], [], []
    for i in range(n):
        gold, right, wrong = CASES[i % len(CASES)]
        correct = i % 2 == 0
        responses.append(f"{REASONING * 3}Therefore the answer is $\\boxed{{{right if correct else wrong}}}$.")
        golds.append(gold)
        expected.append(1.0 if correct else 0.0)
    return responses, golds, expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=400, help="answers per measurement")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: the library default)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per item (default: library default)")
    args = parser.parse_args()
    if args.workers is not None:
        os.environ["VERL_EXT_REWARD_WORKERS"] = str(args.workers)
    timeout = math_reward.default_timeout() if args.timeout is None else args.timeout
    responses, golds, expected = make_mix(args.n)

    start = time.perf_counter()
    pool = math_reward.pool()
    pool.warm_up()
    startup = time.perf_counter() - start

    start = time.perf_counter()
    seq = [
        math_reward.compute_score("bench", r, g, truncated=False, timeout=timeout)["score"]
        for r, g in zip(responses, golds)
    ]
    seq_s = time.perf_counter() - start

    start = time.perf_counter()
    batch = math_reward.score_batch(responses, golds, timeout=timeout)
    batch_s = time.perf_counter() - start

    agree = sum(a == b for a, b in zip(seq, expected)) / args.n
    print(f"cpu cores: {os.cpu_count()}  workers: {pool.num_workers}  timeout per item: {timeout:.1f} s")
    print(f"pool start-up (once per process): {startup:.2f} s")
    print(f"sequential compute_score: {args.n} answers in {seq_s:.2f} s = {args.n / seq_s:.1f} answers/s")
    print(f"score_batch:              {args.n} answers in {batch_s:.2f} s = {args.n / batch_s:.1f} answers/s")
    print(f"scores as expected: sequential {agree:.1%}, batch {float((batch == expected).mean()):.1%}")
    print(f"reward_stats: {math_reward.reward_stats()}")


if __name__ == "__main__":
    main()
