"""Turn loaded source tables into contract rows (what ``scripts/prepare_data.py`` writes).

``extra_info`` of every row: ``index`` (= row position), ``split``, ``source_row`` (the row number in the source
table, to trace a prompt back). The NuminaMath pool adds ``subset`` (1..15) and ``subset_row``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from verl_ext.data.adapters import NUMINA_SUBSETS, Table, get_source, load_table
from verl_ext.data.contract import make_row
from verl_ext.data.templates import get_template

logger = logging.getLogger(__name__)

NUMINA_POOL = "numina_pool"


def _check_columns(df: Any, name: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"{name}: the table lacks columns {missing} (has {list(df.columns)}); this source needs {list(columns)}"
        )


def _extract(name: str, table: Table) -> list[tuple[int, str, str | None]]:
    """``(source_row, problem, gold)`` for every row of one source table."""
    source = get_source(name)
    df = load_table(table)
    _check_columns(df, name, source.columns)
    if source.num_rows is not None and len(df) != source.num_rows:
        logger.warning("%s: %d rows, the published split has %d", name, len(df), source.num_rows)
    return [(i, source.problem(row), source.answer(row)) for i, row in enumerate(df.to_dict("records"))]


def _messages(template: str, problem: Any, drop_final_period: bool) -> list[dict[str, str]]:
    """Template messages; an empty problem gives an empty user message, which validation reports with its row."""
    if not isinstance(problem, str) or not problem.strip():
        return [{"role": "user", "content": ""}]
    return get_template(template).messages(problem, drop_final_period)


def _drop_unanswerable(items: list, name: str, drop_missing: bool) -> list:
    if not drop_missing:
        return items
    kept = [item for item in items if item[-1]]
    dropped = [item[0] for item in items if not item[-1]]
    if dropped:
        logger.warning("%s: dropped %d rows without a gold answer (source rows %s)", name, len(dropped), dropped[:20])
    return kept


def source_rows(
    name: str,
    table: Table,
    template: str = "qwen_math",
    drop_final_period: bool = False,
    drop_missing: bool = False,
    rollout_n: int | None = None,
) -> list[dict[str, Any]]:
    """Contract rows for one source (see ``verl_ext.data.adapters.SOURCES`` for the names).

    Args:
        name: source name, e.g. ``"math"``, ``"deepscaler"``, ``"numina_3"``, ``"math500"``.
        table: the loaded source split (DataFrame, ``datasets.Dataset`` or local file).
        template: prompt template name (``qwen3_base``, ``llama_instruct``, ``qwen_math``).
        drop_final_period: drop the instruction's final period (CurES release prompts).
        drop_missing: drop rows without a gold answer instead of letting validation refuse them.
        rollout_n: if set, a per-row ``__rollout_n__`` column (samples per prompt at validation).
    """
    get_template(template)  # fail early on an unknown name
    split = "train" if get_source(name).kind == "train" else "test"
    items = _drop_unanswerable(_extract(name, table), name, drop_missing)
    rows = []
    for index, (source_row, problem, gold) in enumerate(items):
        row = make_row(name, _messages(template, problem, drop_final_period), gold, index, split, source_row=source_row)
        if rollout_n is not None:
            row["__rollout_n__"] = int(rollout_n)
        rows.append(row)
    return rows


def numina_pool_rows(
    tables: Sequence[Table], template: str = "qwen_math", drop_final_period: bool = False, drop_missing: bool = False
) -> list[dict[str, Any]]:
    """The NuminaMath pool: subsets 1..15 concatenated in order, ``extra_info.{subset, subset_row}`` per row."""
    if len(tables) != len(NUMINA_SUBSETS):
        raise ValueError(
            f"{NUMINA_POOL}: need {len(NUMINA_SUBSETS)} tables (subsets 1..15 in order), got {len(tables)}"
        )
    get_template(template)
    rows: list[dict[str, Any]] = []
    for subset, table in zip(NUMINA_SUBSETS, tables):
        items = _drop_unanswerable(_extract(f"numina_{subset}", table), f"numina_{subset}", drop_missing)
        for subset_row, problem, gold in items:
            messages = _messages(template, problem, drop_final_period)
            rows.append(
                make_row("numina_math", messages, gold, len(rows), "train", subset=subset, subset_row=subset_row)
            )
    return rows
