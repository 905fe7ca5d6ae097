"""A seeded synthetic arithmetic task for CPU runs: short prompts with a spread of difficulties and integer answers.

Each row follows the project's data contract (``verl_ext.data.contract``)::

    data_source  "synthetic_arith"
    prompt       [{"role": "user", "content": "12+7 = ? Answer in \\\\boxed{}."}]
    ability      "math"
    reward_model {"style": "rule", "ground_truth": "19"}
    extra_info   {"index": <row position>, "split": "train" | "val" | ..., "difficulty": d, "expr": "12+7"}

Difficulty ``d`` indexes ``LEVELS`` (harder = more digits / more operations). Rows cycle through the requested levels
so every level gets the same share, then are shuffled; expressions are unique within a call while the level's space
allows it (one-digit sums only have 100), so small splits have no duplicates.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verl_ext.data.contract import make_row, write_dataset

logger = logging.getLogger(__name__)

DATA_SOURCE = "synthetic_arith"
PROMPT_SUFFIX = " = ? Answer in \\boxed{}."
_MAX_TRIES = 50  # draws per row before accepting a duplicate expression (tiny levels run out of unique ones)


@dataclass(frozen=True)
class Level:
    """One difficulty level: a binary or ternary expression with operand digit counts."""

    ops: tuple[str, ...]  # operators between consecutive operands, e.g. ("+",) or ("+", "*")
    digits: tuple[int, ...]  # digits of each operand, len(ops) + 1 entries

    def sample(self, rng: random.Random) -> str:
        """A random expression string such as ``"12+7"`` (operands have exactly ``digits`` digits, 1-digit may be 0)."""
        operands = [rng.randint(0 if d == 1 else 10 ** (d - 1), 10**d - 1) for d in self.digits]
        parts = [str(operands[0])]
        for op, value in zip(self.ops, operands[1:]):
            parts += [op, str(value)]
        return "".join(parts)


# Ordered from easiest to hardest for a tiny transformer; difficulty d = position in this tuple.
LEVELS: tuple[Level, ...] = (
    Level(("+",), (1, 1)),  # 0: 3+4
    Level(("+",), (2, 1)),  # 1: 23+4
    Level(("*",), (1, 1)),  # 2: 3*4
    Level(("+",), (2, 2)),  # 3: 23+45
    Level(("+", "*"), (1, 1, 1)),  # 4: 3+4*5
    Level(("*",), (2, 1)),  # 5: 23*4
    Level(("+",), (3, 3)),  # 6: 123+456
    Level(("*",), (2, 2)),  # 7: 23*45
)


def evaluate_expr(expr: str) -> int:
    """Integer value of an expression made of non-negative integers, ``+`` and ``*`` (usual precedence)."""
    if not expr or any(c not in "0123456789+*" for c in expr):
        raise ValueError(f"expression {expr!r} may only contain digits, '+' and '*'")
    return sum(_product(term) for term in expr.split("+"))


def _product(term: str) -> int:
    out = 1
    for factor in term.split("*"):
        out *= int(factor)
    return out


def prompt_text(expr: str) -> str:
    """The user message for ``expr``."""
    return f"{expr}{PROMPT_SUFFIX}"


def _check_levels(difficulties: Sequence[int]) -> None:
    bad = [d for d in difficulties if not 0 <= d < len(LEVELS)]
    if not difficulties or bad:
        raise ValueError(f"difficulties {list(difficulties)}: each must be in 0..{len(LEVELS) - 1} (see LEVELS)")


def sample_problems(
    n: int, seed: int, difficulties: Sequence[int] | None = None, exclude: set[str] | None = None
) -> list[tuple[str, int, int]]:
    """``n`` problems ``(expr, answer, difficulty)``, levels balanced and shuffled, expressions not in ``exclude``.

    Deterministic in ``seed``. ``exclude`` (e.g. the training expressions when drawing a validation split) is honoured
    while a level has unused expressions left; the new expressions are added to it.
    """
    if n < 0:
        raise ValueError(f"n={n} must be >= 0")
    levels = list(range(len(LEVELS))) if difficulties is None else list(difficulties)
    _check_levels(levels)
    rng = random.Random(seed)
    seen = exclude if exclude is not None else set()
    order = [levels[i % len(levels)] for i in range(n)]
    rng.shuffle(order)
    out = []
    for d in order:
        expr = LEVELS[d].sample(rng)
        for _ in range(_MAX_TRIES):
            if expr not in seen:
                break
            expr = LEVELS[d].sample(rng)
        seen.add(expr)
        out.append((expr, evaluate_expr(expr), d))
    return out


def make_rows(problems: Sequence[tuple[str, int, int]], split: str) -> list[dict[str, Any]]:
    """Contract rows for ``problems``; ``extra_info.index`` is the row position."""
    return [
        make_row(
            DATA_SOURCE,
            [{"role": "user", "content": prompt_text(expr)}],
            str(answer),
            index=i,
            split=split,
            difficulty=int(d),
            expr=expr,
        )
        for i, (expr, answer, d) in enumerate(problems)
    ]


def generate_splits(
    sizes: dict[str, int], seed: int, difficulties: Sequence[int] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Rows per split (e.g. ``{"train": 512, "val": 128}``); splits avoid each other's expressions where possible.

    Split ``k`` (in dict order) is drawn with seed ``seed * 1000 + k`` so adding a split does not change earlier ones.
    """
    used: set[str] = set()
    return {
        split: make_rows(sample_problems(n, seed * 1000 + k, difficulties, exclude=used), split)
        for k, (split, n) in enumerate(sizes.items())
    }


def write_synthetic(
    out_dir: str | Path,
    sizes: dict[str, int],
    seed: int = 0,
    difficulties: Sequence[int] | None = None,
    tokenizer: Any = None,
    max_prompt_tokens: int | None = None,
) -> dict[str, Path]:
    """Write ``<out_dir>/<split>.parquet`` for each split through ``verl_ext.data.contract.write_dataset``."""
    paths = {}
    for split, rows in generate_splits(sizes, seed, difficulties).items():
        paths[split] = write_dataset(rows, Path(out_dir) / f"{split}.parquet", tokenizer, max_prompt_tokens)
    return paths
