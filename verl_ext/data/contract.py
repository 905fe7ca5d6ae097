"""The parquet data contract: one row = one prompt (docs/data.md; why verl needs it: docs/verl_hooks.md).

Columns: ``data_source`` (str), ``prompt`` (chat messages ``[{role, content}, ...]``), ``ability`` (str),
``reward_model`` = ``{style: "rule", ground_truth: str}``, ``extra_info`` = ``{index: int, split: str, ...}``.
``extra_info.index`` is unique and equals the row position in the file: curriculum state is keyed by it, and verl
reads it as the prompt's ``index`` (defaulting to 0 when missing, which would merge every prompt).

``validate_rows`` refuses bad rows and names all of them; ``write_dataset`` validates then writes atomically
(temporary file in the same folder, then ``os.replace``), so a failed preparation never leaves a partial file.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

COLUMNS = ("data_source", "prompt", "ability", "reward_model", "extra_info")
ROLES = ("system", "user", "assistant")
MAX_LISTED_PROBLEMS = 20


class DataValidationError(ValueError):
    """Bad rows in a dataset. ``problems`` lists every ``(row, reason)``; the message shows the first 20."""

    def __init__(self, problems: list[tuple[int, str]], where: str = "dataset") -> None:
        self.problems = problems
        rows = sorted({row for row, _ in problems})
        shown = "\n".join(f"  row {row}: {reason}" for row, reason in problems[:MAX_LISTED_PROBLEMS])
        more = len(problems) - MAX_LISTED_PROBLEMS
        tail = f"\n  ... and {more} more problems" if more > 0 else ""
        super().__init__(
            f"{where}: {len(rows)} bad rows ({len(problems)} problems); nothing was written. "
            f"Fix or drop these rows:\n{shown}{tail}"
        )


def make_row(
    data_source: str,
    messages: Sequence[dict[str, str]],
    ground_truth: Any,
    index: int,
    split: str,
    ability: str = "math",
    **extra: Any,
) -> dict[str, Any]:
    """One contract row; ``extra`` keys go into ``extra_info`` next to ``index`` and ``split``."""
    return {
        "data_source": data_source,
        "prompt": [{"role": m["role"], "content": m["content"]} for m in messages],
        "ability": ability,
        "reward_model": {"style": "rule", "ground_truth": "" if ground_truth is None else str(ground_truth)},
        "extra_info": {"index": index, "split": split, **extra},
    }


def _as_list(value: Any) -> list | None:
    """Parquet gives list columns back as numpy arrays: accept both."""
    if isinstance(value, np.ndarray):
        return list(value)
    return value if isinstance(value, list) else None


def _prompt_problem(prompt: Any) -> str | None:
    messages = _as_list(prompt)
    if not messages:
        return "prompt is not a non-empty list of chat messages {role, content}"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not {"role", "content"} <= set(message):
            return f"prompt[{i}] is not a {{role, content}} message: {str(message)[:80]!r}"
        if message["role"] not in ROLES:
            return f"prompt[{i}].role={message['role']!r}; valid roles: {list(ROLES)}"
        if not isinstance(message["content"], str) or not message["content"].strip():
            return f"prompt[{i}].content is empty or not a string"
    if not any(m["role"] == "user" for m in messages):
        return "prompt has no user message"
    return None


def _row_problems(position: int, row: pd.Series) -> list[str]:
    """Reasons why one row breaks the contract (empty list: the row is fine)."""
    out = []
    if not isinstance(row["data_source"], str) or not row["data_source"]:
        out.append("data_source must be a non-empty string")
    if not isinstance(row["ability"], str) or not row["ability"]:
        out.append("ability must be a non-empty string")
    problem = _prompt_problem(row["prompt"])
    if problem:
        out.append(problem)
    reward = row["reward_model"]
    truth = reward.get("ground_truth") if isinstance(reward, dict) else None
    if not isinstance(truth, str) or not truth.strip():
        out.append(f"reward_model.ground_truth is missing or empty (got {truth!r})")
    info = row["extra_info"] if isinstance(row["extra_info"], dict) else {}
    index = info.get("index")
    if not isinstance(index, int | np.integer) or isinstance(index, bool):
        out.append(f"extra_info.index is missing or not an integer (got {index!r})")
    elif int(index) != position:
        out.append(f"extra_info.index={int(index)} but the row position is {position} (index must equal position)")
    if not isinstance(info.get("split"), str) or not info.get("split"):
        out.append("extra_info.split is missing or empty")
    return out


def prompt_token_count(messages: Any, tokenizer: Any) -> int:
    """Tokens of the rendered prompt, counted as verl's ``RLHFDataset`` does when it filters overlong prompts
    (the tokenizer's chat template, ``add_generation_prompt=True``, ``tokenize=True``)."""
    ids = tokenizer.apply_chat_template(list(_as_list(messages) or []), add_generation_prompt=True, tokenize=True)
    if isinstance(ids, Mapping) or hasattr(ids, "keys"):  # transformers may return a BatchEncoding
        ids = ids["input_ids"]
    if len(ids) > 0 and isinstance(ids[0], list | np.ndarray):  # batched form [[...]]
        ids = ids[0]
    return len(ids)


def _duplicate_problems(df: pd.DataFrame) -> list[tuple[int, str]]:
    seen: dict[int, int] = {}
    out = []
    for position, info in enumerate(df["extra_info"]):
        index = info.get("index") if isinstance(info, dict) else None
        if isinstance(index, int | np.integer) and not isinstance(index, bool):
            if int(index) in seen:
                out.append(
                    (position, f"duplicate extra_info.index={int(index)} (first used by row {seen[int(index)]})")
                )
            else:
                seen[int(index)] = position
    return out


def validate_rows(df: pd.DataFrame, tokenizer: Any = None, max_prompt_tokens: int | None = None) -> None:
    """Raise ``DataValidationError`` naming every bad row (see the module docstring for the contract).

    With ``tokenizer`` and ``max_prompt_tokens``, prompts longer than ``max_prompt_tokens`` tokens (rendered with
    the tokenizer's chat template and the generation prompt) are bad rows too.
    """
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataValidationError([(-1, f"missing columns {missing}; required columns: {list(COLUMNS)}")])
    if max_prompt_tokens is not None and tokenizer is None:
        raise ValueError("max_prompt_tokens needs a tokenizer to count tokens; pass tokenizer=")
    problems: list[tuple[int, str]] = []
    for position, (_, row) in enumerate(df.iterrows()):
        reasons = _row_problems(position, row)
        if not reasons and max_prompt_tokens is not None:
            n_tokens = prompt_token_count(row["prompt"], tokenizer)
            if n_tokens > max_prompt_tokens:
                reasons.append(f"prompt has {n_tokens} tokens > max_prompt_tokens={max_prompt_tokens}")
        problems.extend((position, reason) for reason in reasons)
    problems.extend(_duplicate_problems(df))
    if problems:
        raise DataValidationError(sorted(problems, key=lambda p: p[0]))


def write_dataset(
    rows: list[dict[str, Any]] | pd.DataFrame,
    path: str | Path,
    tokenizer: Any = None,
    max_prompt_tokens: int | None = None,
) -> Path:
    """Validate ``rows`` and write them to ``path`` (parquet) atomically; return the path."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows), columns=None)
    if df.empty:
        raise DataValidationError([(-1, "no rows to write")], where=str(path))
    try:
        validate_rows(df, tokenizer=tokenizer, max_prompt_tokens=max_prompt_tokens)
    except DataValidationError as err:
        raise DataValidationError(err.problems, where=str(path)) from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        df.to_parquet(tmp, index=False)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the final file should be readable like any other output
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    logger.info("wrote %d rows to %s", len(df), path)
    return path


def read_dataset(path: str | Path) -> pd.DataFrame:
    """Read a contract parquet file and validate it (raises ``DataValidationError`` naming bad rows)."""
    df = pd.read_parquet(path)
    try:
        validate_rows(df)
    except DataValidationError as err:
        raise DataValidationError(err.problems, where=str(path)) from None
    return df
