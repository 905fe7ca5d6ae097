"""avg@k, unbiased pass@k (vs brute force over k-subsets), spread and the papers' Avg column."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from verl_ext.eval.metrics import (
    avg_at_k,
    paper_avg,
    pass_at_k,
    pass_at_k_problem,
    pass_ks,
    sample_spread,
    scores_matrix,
    summarize_scores,
)


def _records(matrix: list[list[int]], indices: list[int] | None = None) -> list[dict]:
    indices = indices or list(range(len(matrix)))
    return [
        {"index": idx, "sample": j, "score": float(s), "response": "", "truncated": False}
        for idx, row in zip(indices, matrix)
        for j, s in enumerate(row)
    ]


def _brute_pass_at_k(row: list[int], k: int) -> float:
    subsets = list(itertools.combinations(row, k))
    return sum(any(s) for s in subsets) / len(subsets)


def test_avg_at_k_hand_made_records() -> None:
    # 3 problems × 4 samples: 2 + 0 + 4 correct = 6 of 12
    idx, m = scores_matrix(_records([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]], indices=[7, 3, 11]))
    assert idx == [3, 7, 11]
    assert m[0].tolist() == [0, 0, 0, 0]  # sorted by problem index
    assert avg_at_k(m) == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(20))
def test_pass_at_k_matches_enumeration_of_all_subsets(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 11))
    matrix = (rng.random((5, n)) < rng.random()).astype(int)
    for k in range(1, n + 1):
        brute = float(np.mean([_brute_pass_at_k(list(row), k) for row in matrix]))
        assert pass_at_k(matrix, k) == pytest.approx(brute, abs=1e-12)


def test_pass_at_k_problem_equals_binomial_form() -> None:
    for n, c, k in [(32, 3, 8), (16, 0, 4), (16, 16, 1), (100, 7, 50), (5, 2, 4)]:
        exact = 1 - math.comb(n - c, k) / math.comb(n, k)
        assert pass_at_k_problem(n, c, k) == pytest.approx(exact, rel=1e-12)
    # pass@1 is the plain mean; stable for large n where C(n, k) overflows float
    assert pass_at_k_problem(2000, 1000, 1) == pytest.approx(0.5)
    assert 0.0 <= pass_at_k_problem(2000, 1, 1000) <= 1.0


def test_pass_at_k_rejects_bad_k() -> None:
    with pytest.raises(ValueError, match="1 <= k <= n"):
        pass_at_k(np.ones((2, 3)), 4)


def test_spread_hand_computed() -> None:
    m = np.array([[1, 0], [1, 1], [0, 0], [1, 0]], dtype=float)
    spread = sample_spread(m)
    # per-index means: (0.75, 0.25) → std ddof 1 = sqrt(0.125)
    assert spread["std_over_samples"] == pytest.approx(math.sqrt(0.125))
    # per-problem std (ddof 0): 0.5, 0, 0, 0.5 → mean 0.25
    assert spread["per_problem_std"] == pytest.approx(0.25)
    # per-problem means 0.5, 1, 0, 0.5 → std ddof 1 = sqrt(1/6); / sqrt(4)
    assert spread["stderr"] == pytest.approx(math.sqrt(1 / 6) / 2)
    assert sample_spread(np.ones((3, 1)))["std_over_samples"] is None


def test_summarize_reports_pass_at_powers_of_two_and_k() -> None:
    assert pass_ks(1) == [1]
    assert pass_ks(4) == [1, 2, 4]
    assert pass_ks(6) == [1, 2, 4, 6]
    s = summarize_scores(np.array([[1, 0, 0, 0], [0, 0, 0, 0]]))
    assert s["k"] == 4 and s["n_problems"] == 2
    assert s["avg_at_k"] == pytest.approx(1 / 8)
    assert s["pass_at_k"]["1"] == pytest.approx(1 / 8)
    assert s["pass_at_k"]["4"] == pytest.approx(0.5)


def test_scores_matrix_rejects_ragged_and_duplicate_samples() -> None:
    recs = _records([[1, 0], [1, 0]])
    with pytest.raises(ValueError, match="duplicate"):
        scores_matrix(recs + [recs[0]])
    with pytest.raises(ValueError, match="expected 0..1"):
        scores_matrix(recs[:-1])


def test_paper_avg_unweighted_and_missing_is_not_zero() -> None:
    cols = ["A", "B", "C"]
    assert paper_avg({"A": 10.0, "B": 20.0, "C": 60.0}, cols) == (pytest.approx(30.0), [])
    avg, missing = paper_avg({"A": 10.0, "C": 60.0}, cols)
    assert missing == ["B"] and avg == pytest.approx(35.0)  # a zero would have given 23.3
    assert paper_avg({}, cols) == (None, cols)


def test_cures_published_avg_is_unweighted_mean() -> None:
    # CurES-GRPO 1.5B row of Table 1: 8 benchmarks → 44.94
    row = dict(zip("abcdefgh", [77.20, 85.97, 51.43, 31.62, 37.33, 13.33, 10.42, 52.19]))
    assert paper_avg(row, list(row))[0] == pytest.approx(44.94, abs=0.01)
