"""Last-\\boxed{} extraction: nesting, escaped braces, look-alikes, unclosed boxes, big inputs."""

from __future__ import annotations

import time

import pytest

from verl_ext.rewards.boxed import last_boxed_content


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"\boxed{5}", "5"),
        (r"first \boxed{1} then \boxed{2}", "2"),
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"\boxed{\left\{1, 2\right\}}", r"\left\{1, 2\right\}"),
        (r"\boxed{\{1,2\}} and text", r"\{1,2\}"),
        (r"\boxed{{{x}}}", "{{x}}"),
        (r"\fbox{7}", "7"),
        (r"\boxed{1} then \fbox{8}", "8"),
        (r"$\boxed 5$ done", "5"),
        (r"\boxed{3} \boxedfoo{4}", "3"),
        (r"\boxed{\text{Monday}}.", r"\text{Monday}"),
    ],
)
def test_last_boxed_content(text: str, expected: str) -> None:
    assert last_boxed_content(text) == expected


@pytest.mark.parametrize("text", ["no box here", r"\boxed{unclosed", r"\boxed", r"\boxedx{1}", ""])
def test_no_boxed_answer_gives_none(text: str) -> None:
    assert last_boxed_content(text) is None


def test_deep_nesting_and_long_text_are_linear() -> None:
    deep = r"\boxed{" + "{" * 50_000 + "1" + "}" * 50_000 + "}"
    start = time.monotonic()
    assert last_boxed_content(deep) == "{" * 50_000 + "1" + "}" * 50_000
    assert last_boxed_content("x" * 200_000 + r"\boxed{9}") == "9"
    assert time.monotonic() - start < 5.0  # a quadratic scan would take minutes here
