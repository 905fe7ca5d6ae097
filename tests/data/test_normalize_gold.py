"""Golds with inner ``$`` (Gaokao-2023-EN, OlympiadBench) are normalised so the project's reward can match them."""

from __future__ import annotations

import pytest

from verl_ext.data.adapters import normalize_gold

# (published gold, normalised gold, a correct response)
CASES = [
    ("$145$solution:", "145", "The count is \\boxed{145}."),
    ("20 $cm^{2}$", "20", "The area is \\boxed{20 \\text{ cm}^2}."),
    ("$48$, $384$", "48, 384", "\\boxed{48, 384}"),
    ("$5$ or $9$", "5, 9", "So $k$ is \\boxed{5 \\text{ or } 9}."),
    ("$2$ or $-2$ or $\\frac{1}{2}$", "2, -2, \\frac{1}{2}", "\\boxed{2, -2, \\frac{1}{2}}"),
    ("$69$,$84$", "69, 84", "\\boxed{69, 84}"),
    ("$f(n)=n$, $g(n)=1$", "f(n)=n, g(n)=1", "\\boxed{f(n)=n, g(n)=1}"),
    ("$\\frac{1}{2}$", "\\frac{1}{2}", "\\boxed{\\frac12}"),
]


@pytest.mark.parametrize(("gold", "expected", "_response"), CASES)
def test_inner_dollars_are_removed(gold: str, expected: str, _response: str) -> None:
    assert normalize_gold(gold) == expected


@pytest.mark.parametrize(
    ("gold", "expected"),
    [
        ("42", "42"),
        ("  \\frac{3}{4} ", "\\frac{3}{4}"),
        ("1,000", "1,000"),  # no $: a thousands separator is left alone
        ("$1,000$", "1,000"),
        ("$(-\\infty, 0) \\cup\\{1\\}$.", "(-\\infty, 0) \\cup\\{1\\}"),
        ("$f(x)=ax+b$, where $b$ is an integer", "f(x)=ax+b, where b is an integer"),
        ("$221,$8$", "221,8"),  # a malformed gold: the stray $ goes
        ("", None),
        ("$$", None),
        (None, None),
    ],
)
def test_other_golds(gold: str | None, expected: str | None) -> None:
    assert normalize_gold(gold) == expected


def test_normalised_golds_are_matched_by_the_reward(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERL_EXT_REWARD_WORKERS", "1")
    from verl_ext.rewards.math_reward import score_batch

    golds = [case[0] for case in CASES]
    responses = [case[2] for case in CASES]
    normalised = [normalize_gold(g) for g in golds]
    assert list(score_batch(responses, normalised, truncated=[False] * len(CASES))) == [1.0] * len(CASES)
