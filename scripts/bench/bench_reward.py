"""The binary math reward against math-verify's own verdict and verl's scorer: agreement, throughput, worst case.

Usage:
    python scripts/bench/bench_reward.py [--rounds 2] [--workers N] [--timeout S] [--pathological 8] [--json OUT]

On the answer corpus ``tests/rewards/answer_corpus.jsonl`` (gold, response, expected verdict; classes: boxed,
unboxed, several boxes, final statement after intermediate boxes, percent, units, intervals, sets, text, thousands,
plain-text golds, expressions, matrices, equations) it reports, per class and in total:

- accuracy against the expected verdict of: ours (``verl_ext.rewards.math_reward``), math-verify alone (called as
  math-verify's own test suite calls it: ``parse`` of the raw gold and the raw response with
  ``LatexExtractionConfig(boxed_match_priority=0)`` + ``ExprExtractionConfig()``, then ``verify``; in this process,
  with math-verify's own timeouts), and verl 0.9.1's scorer (``verl.utils.reward_score.math_verify.compute_score``);
- agreement between our verdict and math-verify's, and the pairs where math-verify alone gives the expected verdict
  but we do not (the figure of issue 13; listed).

Throughput, in the same run and interleaved (the machine may be shared): answers/second of our ``compute_score``
called one item at a time, of verl's ``compute_score`` called the same way (its own 4-process pool), and of our
``score_batch``; the ratio ours / verl. Worst case: a batch of the corpus plus ``--pathological`` answers that
blow up the parser, scored with the default per-item timeout: timeouts, the slowest item, and the extra wall time.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "rewards" / "answer_corpus.jsonl"

# answers whose parsing or comparison does not finish in seconds (gold "2" matches none of them)
PATHOLOGICAL = [
    r"\boxed{10^{10^{10^{10}}}}",
    r"\boxed{2^{2^{2^{2^{2^{2^{2}}}}}}}",
    r"\boxed{(10^{8})!}",
    r"\boxed{9999999!}",
    r"\boxed{x^{x^{x^{x^{x^{x^{x^{x}}}}}}}}",
    r"\boxed{\sum_{n=1}^{10^{12}} n^{n}}",
    r"\boxed{" + r"\sqrt{" * 1500 + "2" + "}" * 1500 + "}",
    r"\boxed{" + r"\frac{1}{" * 2000 + "1" + "}" * 2000 + "}",
]


def load_corpus(path: Path) -> list[dict[str, Any]]:
    """Rows of the corpus; a clear error naming the line when one is malformed."""
    rows = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            row = json.loads(line)
            if not {"class", "gold", "response", "expected"} <= set(row):
                raise ValueError(f"{path}:{line_no}: a row needs class, gold, response, expected; got {sorted(row)}")
            rows.append(row)
    return rows


def math_verify_alone(gold: str, response: str) -> int:
    """math-verify's own verdict, as its test suite computes it (main thread: its signal timeouts work here)."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    configs = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
    return int(verify(parse(gold, configs), parse(response, configs)))


def verl_score(gold: str, response: str) -> float:
    """verl 0.9.1's math-verify scorer (it boxes the gold, parses the whole response; 30 s timeout)."""
    from verl.utils.reward_score import math_verify as verl_math_verify

    return float(verl_math_verify.compute_score(response, gold))


def agreement(
    rows: list[dict[str, Any]], ours: list[float], alone: list[int], verl: list[float], statuses: list[str]
) -> dict[str, Any]:
    """Per-class and total counts; the rows where math-verify alone is right and we are not (with our status:
    ok, or timeout/crash/error when the item did not finish)."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    missed = []
    for row, o, a, v, status in zip(rows, ours, alone, verl, statuses):
        expected = row["expected"]
        for key in (row["class"], "TOTAL"):
            cell = table[key]
            cell["n"] += 1
            cell["ours_ok"] += int(o) == expected
            cell["mv_ok"] += a == expected
            cell["verl_ok"] += int(v) == expected
            cell["ours_eq_mv"] += int(o) == a
            cell["mv_ok_ours_not"] += a == expected and int(o) != expected
            cell["ours_not_ok_status"] += status != "ok"
        if a == expected and int(o) != expected:
            missed.append({**row, "status": status})
    return {"table": {k: dict(v) for k, v in table.items()}, "missed": missed}


def print_agreement(result: dict[str, Any]) -> None:
    table = result["table"]
    print(
        f"{'class':16s} {'n':>4s} {'ours=exp':>9s} {'mv=exp':>7s} {'verl=exp':>9s} {'ours=mv':>8s}"
        f" {'mv ok, ours not':>16s}"
    )
    for key in sorted(table, key=lambda k: (k == "TOTAL", k)):
        c = table[key]
        print(
            f"{key:16s} {c['n']:4d} {c['ours_ok']:9d} {c['mv_ok']:7d} {c['verl_ok']:9d} {c['ours_eq_mv']:8d}"
            f" {c['mv_ok_ours_not']:16d}"
        )
    total = table["TOTAL"]
    n = total["n"]
    print(
        f"ours = expected {total['ours_ok'] / n:.1%}, math-verify alone = expected {total['mv_ok'] / n:.1%}, "
        f"verl = expected {total['verl_ok'] / n:.1%}; ours = math-verify {total['ours_eq_mv'] / n:.1%}; "
        f"math-verify right and ours wrong: {total['mv_ok_ours_not']} of {total['mv_ok']}; "
        f"our items that did not finish (timeout/crash/error): {total['ours_not_ok_status']}"
    )
    for row in result["missed"]:
        print(
            f"  missed id={row.get('id')} class={row['class']} status={row['status']} gold={row['gold']!r} "
            f"ending={row['response'][-80:]!r}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="JSON lines of gold, response, expected, class")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the corpus for the throughput figures")
    parser.add_argument("--workers", type=int, default=None, help="our pool size (default: the library default)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per item (default: library default)")
    parser.add_argument("--pathological", type=int, default=8, help="pathological answers in the worst-case batch")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    args = parser.parse_args()
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    if args.workers is not None:
        os.environ["VERL_EXT_REWARD_WORKERS"] = str(args.workers)

    from verl_ext.rewards import math_reward

    timeout = math_reward.default_timeout() if args.timeout is None else args.timeout
    rows = load_corpus(args.corpus)
    responses = [row["response"] for row in rows]
    golds = [row["gold"] for row in rows]

    start = time.perf_counter()
    pool = math_reward.pool()
    pool.warm_up()
    startup = time.perf_counter() - start
    # verl's pool spawns its processes on first use: warm it too (not timed)
    for _ in range(8):
        verl_score("1", r"\boxed{1}")

    # agreement
    scored = pool.score_many(responses, golds, timeout)  # what score_batch runs, with each item's status
    ours = [r.score for r in scored]
    alone = [math_verify_alone(g, r) for g, r in zip(golds, responses)]
    verl = [verl_score(g, r) for g, r in zip(golds, responses)]
    result = agreement(rows, ours, alone, verl, [r.status for r in scored])

    # throughput: interleaved chunks, one item at a time for both scorers
    ours_s = verl_s = 0.0
    items = 0
    chunk = 25
    for _ in range(args.rounds):
        for lo in range(0, len(rows), chunk):
            part = list(zip(responses[lo : lo + chunk], golds[lo : lo + chunk]))
            t0 = time.perf_counter()
            for response, gold in part:
                math_reward.compute_score("bench", response, gold, truncated=False, timeout=timeout)
            t1 = time.perf_counter()
            for response, gold in part:
                verl_score(gold, response)
            t2 = time.perf_counter()
            ours_s += t1 - t0
            verl_s += t2 - t1
            items += len(part)
    start = time.perf_counter()
    for _ in range(args.rounds):
        math_reward.score_batch(responses, golds, timeout=timeout)
    batch_s = time.perf_counter() - start

    # worst case: the corpus plus pathological answers, in one batch, default timeout
    bad = [PATHOLOGICAL[i % len(PATHOLOGICAL)] for i in range(args.pathological)]
    start = time.perf_counter()
    pool.score_many(responses, golds, timeout)
    clean_s = time.perf_counter() - start
    start = time.perf_counter()
    mixed = pool.score_many(responses + bad, golds + ["2"] * len(bad), timeout)
    mixed_s = time.perf_counter() - start
    bad_results = mixed[len(responses) :]

    figures = {
        "corpus_pairs": len(rows),
        "workers": pool.num_workers,
        "timeout_s": timeout,
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "pool_startup_s": startup,
        "ours_seq_answers_per_s": items / ours_s,
        "verl_seq_answers_per_s": items / verl_s,
        "ratio_ours_over_verl": verl_s / ours_s,
        "ours_batch_answers_per_s": args.rounds * len(rows) / batch_s,
        "worst_case": {
            "pathological": len(bad),
            "timeouts": sum(r.status == "timeout" for r in bad_results),
            "errors_or_crashes": sum(r.status in ("error", "crash") for r in bad_results),
            "slowest_item_s": max((r.elapsed for r in mixed), default=0.0),
            "clean_batch_s": clean_s,
            "with_pathological_s": mixed_s,
            "extra_s": mixed_s - clean_s,
            "bound_s": math.ceil(len(bad) / pool.num_workers) * timeout,
        },
        "agreement": result["table"],
    }

    print(f"corpus: {args.corpus.name}, {len(rows)} pairs")
    print_agreement(result)
    print(
        f"cpus: {figures['cpus']}  workers: {pool.num_workers}  timeout per item: {timeout:.1f} s  "
        f"pool start-up: {startup:.2f} s"
    )
    print(
        f"throughput, one item at a time ({items} answers, interleaved): "
        f"ours {figures['ours_seq_answers_per_s']:.1f}/s, "
        f"verl math_verify {figures['verl_seq_answers_per_s']:.1f}/s, ratio ours/verl "
        f"{figures['ratio_ours_over_verl']:.2f}x; ours score_batch {figures['ours_batch_answers_per_s']:.1f}/s"
    )
    worst = figures["worst_case"]
    print(
        f"worst case: {worst['pathological']} pathological answers among {len(rows)}: {worst['timeouts']} timeouts, "
        f"{worst['errors_or_crashes']} errors/crashes, slowest item {worst['slowest_item_s']:.1f} s; batch "
        f"{worst['clean_batch_s']:.1f} s -> {worst['with_pathological_s']:.1f} s (+{worst['extra_s']:.1f} s; "
        f"bound ceil(k/workers) x timeout = {worst['bound_s']:.0f} s, plus worker restarts)"
    )
    print(f"reward_stats: {math_reward.reward_stats()}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
