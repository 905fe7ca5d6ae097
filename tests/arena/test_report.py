"""The arena's table: AUC, calibration and the mean ± sd rendering, on hand-made runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from verl_ext.arena.harness import RunResult
from verl_ext.arena.report import auc, calibration_of, render, write_outputs


def _run(name: str, seed: int, acc_end: float, calib: np.ndarray | None = None) -> RunResult:
    return RunResult(
        name, seed, rollouts=[0, 10, 30], accuracy=[0.5, 0.6, acc_end], effective_ratio=[0.5, 0.7],
        wasted=[0.5, 0.3], screened=[0.0, 0.6], select_ms=[1.0, 3.0], calib=calib,
        health={"unseen": 0.9, "seen_lt_0.05": 0.1, "seen_between": 0.8, "seen_gt_0.95": 0.1, "coverage": 0.1},
        stop="budget: ...",
    )  # fmt: skip


def test_auc_by_hand():
    # acc 0.5 on [0,10), 0.6 on [10,30), 0.7 on [30,40] -> (5 + 12 + 7) / 40
    assert auc([0, 10, 30], [0.5, 0.6, 0.7], 40) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="within the budget"):
        auc([0, 50], [0.5, 0.6], 40)


def test_calibration_of_a_run_uses_the_shared_definition():
    # hand-computed cases of the definition itself: tests/curriculum/test_observability.py
    rows = np.array([[0.2, 0.0, 2.0], [0.8, 1.0, 2.0], [0.5, 0.5, 4.0]])
    out = calibration_of(rows)
    assert out["brier"] == pytest.approx((2 * 0.04 + 2 * 0.04 + 4 * 0.25) / 8)
    assert out["pearson"] == pytest.approx(1.0) and out["spearman"] == pytest.approx(1.0)
    flat = calibration_of(np.array([[0.5, 0.0, 2.0], [0.5, 1.0, 2.0]]))
    assert math.isnan(flat["pearson"]) and math.isnan(flat["spearman"]) and flat["brier"] == pytest.approx(0.25)


def test_table_mean_sd_order_and_not_run(tmp_path):
    rows = np.array([[0.2, 0.0, 2.0], [0.8, 1.0, 2.0]])
    results = [_run("a", 1, 0.5), _run("a", 2, 0.7), _run("b", 1, 0.9, rows), _run("b", 2, 0.9, rows)]
    text, summary = render(results, {"c": "needs a table"}, budget=40)
    assert summary["a"]["final acc"] == [0.5, 0.7]
    line_a = next(line for line in text.splitlines() if line.startswith("| a |"))
    assert "0.600 ± 0.141" in line_a  # final acc: mean 0.6, sd (ddof=1) 0.1414
    assert "2.00 ± 0.00" in line_a  # selection ms: mean of 1 and 3 in each run
    assert summary["a"]["screened"] == pytest.approx([0.4, 0.4])  # (0 x 10 + 0.6 x 20) / 30 rollouts
    assert text.index("| b |") < text.index("| a |")  # sorted by AUC, b first
    assert "- c: needs a table" in text
    line_b_health = [line for line in text.splitlines() if line.startswith("| b |")][1]
    assert "1.000 ± 0.000" in line_b_health  # Pearson of the calibration rows
    _, paths = write_outputs(results, {}, 40, tmp_path)
    assert {p.name for p in paths} >= {
        "arena_table.md",
        "arena_runs.csv",
        "arena_accuracy.png",
        "arena_calibration.png",
    }
    assert all(p.stat().st_size > 0 for p in paths)
