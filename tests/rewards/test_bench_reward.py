"""The reward benchmark's agreement counts (scripts/bench/bench_reward.py), on hand-made verdicts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "bench_reward.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_reward", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_agreement_counts_and_lists_what_math_verify_gets_right_and_we_do_not() -> None:
    bench = _bench_module()
    rows = [
        {"id": 0, "class": "a", "gold": "1", "response": "1", "expected": 1},
        {"id": 1, "class": "a", "gold": "1", "response": "2", "expected": 0},
        {"id": 2, "class": "b", "gold": "3", "response": "3", "expected": 1},
    ]
    result = bench.agreement(
        rows, ours=[1.0, 0.0, 0.0], alone=[1, 1, 1], verl=[1.0, 0.0, 1.0], statuses=["ok", "ok", "timeout"]
    )
    total = result["table"]["TOTAL"]
    assert total == {
        "n": 3,
        "ours_ok": 2,
        "mv_ok": 2,
        "verl_ok": 3,
        "ours_eq_mv": 1,
        "mv_ok_ours_not": 1,
        "ours_not_ok_status": 1,
    }
    assert result["table"]["a"]["n"] == 2 and result["table"]["b"]["ours_ok"] == 0
    assert [(row["id"], row["status"]) for row in result["missed"]] == [(2, "timeout")]


def test_committed_corpus_loads() -> None:
    bench = _bench_module()
    rows = bench.load_corpus(bench.CORPUS)
    assert len(rows) >= 200 and all(row["expected"] in (0, 1) for row in rows)
