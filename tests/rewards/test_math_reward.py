"""Binary math reward: equivalences, non-equivalences, truncation, verl's call signature, batch API."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from verl_ext.rewards import math_reward
from verl_ext.rewards.math_reward import compute_score, is_truncated, reward_stats, score_batch

TEST_TIMEOUT_S = 2.0  # seconds per item: short, so the suite stays fast

EQUIVALENT = [
    (r"The answer is \boxed{\frac12}", "0.5"),
    (r"\boxed{0.5}", r"\frac{1}{2}"),
    (r"\boxed{\dfrac{3}{4}}", "3/4"),
    # boxes over 70 characters apart are not one answer: the last one counts (math-verify's grouping rule)
    (r"so \boxed{1}. Checking every case again, including both boundary conditions, we correct it to \boxed{2}", "2"),
    (r"\boxed{\boxed{7}}", "7"),
    (r"\boxed{\frac{\sqrt{3}}{2}}", r"\frac{\sqrt3}{2}"),
    (r"\boxed{2\sqrt{2}}", r"\sqrt{8}"),
    (r"\boxed{-3}", "-3"),
    (r"\boxed{-\frac{1}{3}}", r"\frac{-1}{3}"),
    (r"\boxed{\{1, 2, 3\}}", r"\{3, 2, 1\}"),
    (r"\boxed{(1, 2]}", "(1,2]"),
    (r"\boxed{[0, \infty)}", r"[0,\infty)"),
    (r"\boxed{x \in (-\infty, 3)}", r"(-\infty, 3)"),
    (r"\boxed{90^\circ}", "90"),
    (r"\boxed{45^{\circ}}", r"45^\circ"),
    (r"\boxed{\text{Monday}}", "Monday"),
    (r"\boxed{1,000}", "1000"),
    (r"\boxed{50\%}", r"50\%"),
    (r"\boxed{50\%}", "50"),  # a percent sign is optional, like a unit (verl_ext.rewards.answer, rule 3)
    (r"\boxed{x=5}", "5"),
    (r"\boxed{2x+1}", "1+2x"),
    (r"\boxed{2\pi}", r"2 \pi"),
    (r"\boxed{3, 5}", "3,5"),
    (r"\boxed{(2, -1)}", "(2,-1)"),
    (r"The final answer is $\frac{7}{2}$.", "3.5"),
    (r"Therefore the answer is 42.", "42"),
    (r"\boxed{\left( \frac{1}{2}, 3 \right)}", r"(\frac12, 3)"),
    (r"\boxed{\begin{pmatrix} 1 \\ 2 \end{pmatrix}}", r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}"),
    (r"\boxed{10^{3}}", "1000"),
    (r"\boxed{\frac{1}{\sqrt{2}}}", r"\frac{\sqrt{2}}{2}"),
    (r"\boxed{5 \text{ cm}}", "5"),
    (r"\boxed{\$18.90}", "18.90"),
    (r"\boxed{\log_2 8}", "3"),
    (r"\fbox{12}", "12"),
    (r"$\boxed{3}$", "$3$"),
    (r"\boxed{\frac{1}{2}}", r"\boxed{\frac{1}{2}}"),
]

NOT_EQUIVALENT = [
    (r"\boxed{\frac12}", "0.6"),
    (r"\boxed{3}", "-3"),
    (r"\boxed{\{1, 2\}}", r"\{1, 2, 3\}"),
    (r"\boxed{(1, 2)}", "(1,2]"),
    (r"\boxed{[1, 2]}", "(1,2)"),
    (r"\boxed{\sqrt{2}}", "1.41"),
    (r"\boxed{2\sqrt{3}}", r"3\sqrt{2}"),
    (r"\boxed{x+1}", "x-1"),
    (r"\boxed{\text{Tuesday}}", "Monday"),
    (r"\boxed{89^\circ}", "90"),
    (r"\boxed{2} then, finally, \boxed{3}", "2"),
    (r"\boxed{(2, 1)}", "(1,2)"),
    (r"\boxed{\frac{2}{3}}", "0.6"),
    (r"\boxed{10^{3}}", "10^{4}"),
    (r"\boxed{\pi}", "3.14"),
    (r"\boxed{50\%}", "0.6"),
]

NO_ANSWER = ["I do not know.", "", r"\boxed{}", "   \n\t ", r"The answer is \boxed{"]


@pytest.mark.parametrize(("response", "gold"), EQUIVALENT)
def test_equivalent_answers_score_one(response: str, gold: str) -> None:
    out = compute_score("math", response, gold, truncated=False, timeout=TEST_TIMEOUT_S)
    assert out == {"score": 1.0, "acc": 1.0, "timeout": 0.0, "truncated": 0.0}


@pytest.mark.parametrize(("response", "gold"), NOT_EQUIVALENT)
def test_wrong_answers_score_zero(response: str, gold: str) -> None:
    out = compute_score("math", response, gold, truncated=False, timeout=TEST_TIMEOUT_S)
    assert out["score"] == 0.0 and out["acc"] == 0.0 and out["timeout"] == 0.0


@pytest.mark.parametrize("response", NO_ANSWER)
def test_no_answer_scores_zero(response: str) -> None:
    assert compute_score("math", response, "5", truncated=False, timeout=TEST_TIMEOUT_S)["score"] == 0.0


def test_enough_cases() -> None:
    assert len(EQUIVALENT) + len(NOT_EQUIVALENT) >= 30


def test_truncated_response_scores_zero_even_when_right() -> None:
    before = reward_stats()["truncated"]
    out = compute_score("math", r"\boxed{4}", "4", truncated=True)
    assert out == {"score": 0.0, "acc": 0.0, "timeout": 0.0, "truncated": 1.0}
    assert reward_stats()["truncated"] == before + 1


@pytest.mark.parametrize(
    ("extra_info", "expected"),
    [
        ({"truncated": True}, True),
        ({"truncated": False, "response_length": 10, "max_response_length": 10}, False),
        ({"response_length": 10, "max_response_length": 10}, True),
        ({"response_length": 9, "max_response_length": 10}, False),
        ({"response_length": np.int64(10), "max_response_length": np.int64(10)}, True),  # as read from parquet
        ({"index": 3}, False),
        (None, False),
    ],
)
def test_truncation_rule_from_extra_info(extra_info: dict | None, expected: bool) -> None:
    assert is_truncated(extra_info) is expected
    right = compute_score("math", r"\boxed{4}", "4", extra_info=extra_info, timeout=TEST_TIMEOUT_S)
    assert right["score"] == (0.0 if expected else 1.0)
    assert right["truncated"] == (1.0 if expected else 0.0)


def test_explicit_kwarg_wins_over_extra_info() -> None:
    assert is_truncated({"truncated": True}, truncated=False) is False
    assert is_truncated({"truncated": False}, truncated=True) is True


def test_signature_matches_verl_custom_reward_call() -> None:
    # verl 0.9.1's naive manager calls compute_score(data_source=, solution_str=, ground_truth=, extra_info=, **kw)
    params = inspect.signature(compute_score).parameters
    assert list(params)[:4] == ["data_source", "solution_str", "ground_truth", "extra_info"]
    out = compute_score(
        data_source="math500",
        solution_str=r"\boxed{4}",
        ground_truth="4",
        extra_info={"index": 0, "num_turns": 2, "rollout_reward_scores": {}},
        reward_router_address=None,
    )
    assert out["score"] == 1.0


def test_loaded_through_verl_custom_reward_function() -> None:
    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import get_custom_reward_fn

    config = OmegaConf.create(
        {"reward": {"custom_reward_function": {"path": "pkg://verl_ext.rewards.math_reward", "name": "compute_score"}}}
    )
    fn = get_custom_reward_fn(config)
    out = fn(data_source="m", solution_str=r"\boxed{\frac{1}{4}}", ground_truth="0.25", extra_info={})
    assert out["score"] == 1.0


def test_list_ground_truth_any_match() -> None:
    assert compute_score("gsm8k", r"\boxed{72}", ["70", "72"], truncated=False)["score"] == 1.0
    assert compute_score("gsm8k", r"\boxed{71}", ["70", "72"], truncated=False)["score"] == 0.0


def test_score_batch_matches_single_scores() -> None:
    pairs = EQUIVALENT[:6] + NOT_EQUIVALENT[:6]
    responses = [r for r, _ in pairs]
    golds = [g for _, g in pairs]
    scores = score_batch(responses, golds, timeout=TEST_TIMEOUT_S)
    assert scores.shape == (12,) and scores.dtype == np.float64
    np.testing.assert_array_equal(scores, [1.0] * 6 + [0.0] * 6)
    truncated = np.zeros(12, dtype=bool)
    truncated[:3] = True
    cut = score_batch(responses, golds, truncated=truncated, timeout=TEST_TIMEOUT_S)
    np.testing.assert_array_equal(cut, [0.0] * 3 + [1.0] * 3 + [0.0] * 6)


def test_score_batch_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="2 responses but 1 ground truths"):
        score_batch(["a", "b"], ["1"])
    with pytest.raises(ValueError, match="truncated has shape"):
        score_batch(["a"], ["1"], truncated=[True, False])


def test_reward_stats_reset() -> None:
    compute_score("m", r"\boxed{1}", "1", truncated=False)
    assert reward_stats()["items"] >= 1
    reward_stats(reset=True)
    assert reward_stats() == {"items": 0.0, "timeouts": 0.0, "crashes": 0.0, "errors": 0.0, "truncated": 0.0}


def test_pool_is_reused_across_calls() -> None:
    first = math_reward.pool()
    compute_score("m", r"\boxed{1}", "1", truncated=False)
    assert math_reward.pool() is first
