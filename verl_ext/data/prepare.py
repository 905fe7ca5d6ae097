"""Turn loaded source tables into contract rows and write them with their provenance (``scripts/prepare_data.py``).

``extra_info`` of every row: ``index`` (= row position), ``split``, ``source_row`` (the row number in the source
table, to trace a prompt back). The NuminaMath pool adds ``subset`` (1..15) and ``subset_row``.

Bad rows of published datasets (no gold answer, an empty problem, a prompt over the token limit) are dropped by
default, and every drop is reported (count, source rows, reason) in the log and in ``<split>.dropped.json`` next to
the output; ``strict=True`` refuses the dataset instead. A source table whose size differs from the published one is
refused unless ``allow_size_mismatch=True``.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from verl_ext.data.adapters import NUMINA_SUBSETS, Table, get_source, load_table, normalize_gold
from verl_ext.data.contract import DataValidationError, make_row, validate_rows, write_dataset
from verl_ext.data.layout import sidecar
from verl_ext.data.templates import get_template
from verl_ext.provenance import commit_label

logger = logging.getLogger(__name__)

NUMINA_POOL = "numina_pool"
MAX_LOGGED_DROPS = 20


class SizeMismatchError(ValueError):
    """A source table whose row count is not the published one (a different revision, config or split)."""


@dataclass
class Prepared:
    """Rows ready to write, and what preparation did to the source to get them.

    ``dropped``: ``{"source_row", "reason"}`` per dropped row (NuminaMath adds ``subset``); ``normalised``:
    ``{"source_row", "before", "after"}`` per gold whose ``$`` delimiters were removed; ``meta``: provenance.
    """

    name: str
    rows: list[dict[str, Any]]
    source_rows: int
    dropped: list[dict[str, Any]] = field(default_factory=list)
    normalised: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def _check_columns(df: Any, name: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"{name}: the table lacks columns {missing} (has {list(df.columns)}); this source needs {list(columns)}"
        )


def check_size(name: str, n_rows: int, allow_size_mismatch: bool = False) -> str:
    """Compare a source table's size with the published one; raise ``SizeMismatchError`` unless allowed.

    Returns what was checked, for the metadata (``"ok"``, ``"unknown"`` or ``"mismatch allowed: ..."``).
    """
    expected = get_source(name).num_rows
    if expected is None:
        return "unknown (no published size registered)"
    if n_rows == expected:
        return "ok"
    message = f"{name}: the source table has {n_rows} rows, the published split has {expected}"
    if not allow_size_mismatch:
        raise SizeMismatchError(
            f"{message}; check the revision / config / split, or pass --allow-size-mismatch to prepare it anyway"
        )
    logger.warning("%s (allowed)", message)
    return f"mismatch allowed: {n_rows} rows, published {expected}"


def _extract(
    name: str, table: Table
) -> tuple[list[tuple[int, str, str | None, dict[str, Any]]], list[dict[str, Any]], int]:
    """``(source_row, problem, gold, extra)`` for every row of one source table, the normalised golds, the row count.

    ``extra`` holds the source's additional ``extra_info`` fields (``Source.extra``; empty for most sources).
    """
    source = get_source(name)
    df = load_table(table)
    _check_columns(df, name, source.columns)
    items, normalised = [], []
    for i, row in enumerate(df.to_dict("records")):
        raw = source.answer(row)
        gold = normalize_gold(raw)
        if raw is not None and gold != raw.strip():
            normalised.append({"source_row": i, "before": raw, "after": gold})
        items.append((i, source.problem(row), gold, source.extra(row) if source.extra is not None else {}))
    return items, normalised, len(df)


def _messages(template: str, problem: Any, drop_final_period: bool) -> list[dict[str, str]]:
    """Template messages; an empty problem gives an empty user message, which validation reports with its row."""
    if not isinstance(problem, str) or not problem.strip():
        return [{"role": "user", "content": ""}]
    return get_template(template).messages(problem, drop_final_period)


def drop_bad_rows(
    rows: list[dict[str, Any]],
    where: str,
    strict: bool = False,
    tokenizer: Any = None,
    max_prompt_tokens: int | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split rows into the ones the contract accepts and the dropped ones (with the reasons); renumber the index.

    With ``strict`` a bad row raises ``DataValidationError`` naming every bad row instead.
    """
    if not rows:
        raise DataValidationError([(-1, "no rows in the source")], where=where)
    try:
        validate_rows(pd.DataFrame(rows), tokenizer=tokenizer, max_prompt_tokens=max_prompt_tokens)
        return rows, []
    except DataValidationError as err:
        if strict or any(position < 0 for position, _ in err.problems):
            raise DataValidationError(err.problems, where=where) from None
        reasons: dict[int, list[str]] = {}
        for position, reason in err.problems:
            reasons.setdefault(position, []).append(reason)
    kept: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    for position, row in enumerate(rows):
        info = row["extra_info"]
        if position in reasons:
            trace = {k: info[k] for k in ("subset", "subset_row") if k in info}
            dropped.append({"source_row": info.get("source_row", position), **trace,
                            "reason": "; ".join(reasons[position])})  # fmt: skip
            continue
        row["extra_info"] = {**info, "index": len(kept)}
        kept.append(row)
    if not kept:
        raise DataValidationError([(p, "; ".join(r)) for p, r in sorted(reasons.items())], where=where)
    shown = ", ".join(f"row {d['source_row']}: {d['reason']}" for d in dropped[:MAX_LOGGED_DROPS])
    more = f" ... and {len(dropped) - MAX_LOGGED_DROPS} more" if len(dropped) > MAX_LOGGED_DROPS else ""
    logger.warning("%s: dropped %d of %d source rows (%s%s)", where, len(dropped), len(rows), shown, more)
    return kept, dropped


def source_rows(
    name: str,
    table: Table,
    template: str = "qwen_math",
    drop_final_period: bool = False,
    rollout_n: int | None = None,
) -> list[dict[str, Any]]:
    """Contract rows for one source, bad rows included (``prepare_source`` drops and reports them).

    Args:
        name: source name, e.g. ``"math"``, ``"deepscaler"``, ``"numina_3"``, ``"math500"``, ``"olympiadbench_qwen"``.
        table: the loaded source split (DataFrame, ``datasets.Dataset`` or local file).
        template: prompt template name (``qwen3_base``, ``llama_instruct``, ``qwen_math``).
        drop_final_period: drop the instruction's final period (CurES release prompts).
        rollout_n: if set, a per-row ``__rollout_n__`` column: samples per problem that verl's ``_validate`` and
            ``scripts/eval.py`` use (the suite's protocol, e.g. AIME x32 for PCL).
    """
    return _source_rows(name, table, template, drop_final_period, rollout_n)[0]


def _source_rows(
    name: str, table: Table, template: str, drop_final_period: bool, rollout_n: int | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    get_template(template)  # fail early on an unknown name
    source = get_source(name)
    split = "train" if source.kind == "train" else "test"
    items, normalised, n_rows = _extract(name, table)
    rows = []
    for index, (source_row, problem, gold, extra) in enumerate(items):
        messages = _messages(template, problem, drop_final_period)
        row = make_row(source.output_name, messages, gold, index, split, source_row=source_row, **extra)
        if rollout_n is not None:
            row["__rollout_n__"] = int(rollout_n)
        rows.append(row)
    return rows, normalised, n_rows


def prepare_source(
    name: str,
    table: Table,
    template: str = "qwen_math",
    drop_final_period: bool = False,
    rollout_n: int | None = None,
    strict: bool = False,
    allow_size_mismatch: bool = False,
    tokenizer: Any = None,
    max_prompt_tokens: int | None = None,
) -> Prepared:
    """Rows of one source with bad rows dropped (or refused with ``strict``), the size checked, provenance kept."""
    rows, normalised, n_rows = _source_rows(name, table, template, drop_final_period, rollout_n)
    size_check = check_size(name, n_rows, allow_size_mismatch)
    kept, dropped = drop_bad_rows(rows, name, strict, tokenizer, max_prompt_tokens)
    meta = {**get_source(name).provenance(), "size_check": size_check}
    return Prepared(get_source(name).output_name, kept, n_rows, dropped, normalised, meta)


def numina_pool_rows(
    tables: Sequence[Table], template: str = "qwen_math", drop_final_period: bool = False
) -> list[dict[str, Any]]:
    """The NuminaMath pool: subsets 1..15 concatenated in order, ``extra_info.{subset, subset_row}`` per row."""
    return _numina_pool(tables, template, drop_final_period)[0]


def _numina_pool(
    tables: Sequence[Table], template: str, drop_final_period: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    if len(tables) != len(NUMINA_SUBSETS):
        raise ValueError(
            f"{NUMINA_POOL}: need {len(NUMINA_SUBSETS)} tables (subsets 1..15 in order), got {len(tables)}"
        )
    get_template(template)
    rows: list[dict[str, Any]] = []
    normalised: list[dict[str, Any]] = []
    total = 0
    for subset, table in zip(NUMINA_SUBSETS, tables):
        items, changed, n_rows = _extract(f"numina_{subset}", table)
        normalised.extend({"subset": subset, **c} for c in changed)
        for subset_row, problem, gold, _ in items:
            messages = _messages(template, problem, drop_final_period)
            rows.append(
                make_row(
                    "numina_math",
                    messages,
                    gold,
                    len(rows),
                    "train",
                    subset=subset,
                    subset_row=subset_row,
                    source_row=total + subset_row,
                )  # fmt: skip
            )
        total += n_rows
    return rows, normalised, total


def prepare_numina_pool(
    tables: Sequence[Table],
    template: str = "qwen_math",
    drop_final_period: bool = False,
    strict: bool = False,
    tokenizer: Any = None,
    max_prompt_tokens: int | None = None,
) -> Prepared:
    """The NuminaMath pool with bad rows dropped (or refused with ``strict``) and reported by subset and row."""
    rows, normalised, total = _numina_pool(tables, template, drop_final_period)
    kept, dropped = drop_bad_rows(rows, NUMINA_POOL, strict, tokenizer, max_prompt_tokens)
    subsets = [get_source(f"numina_{i}").provenance() for i in NUMINA_SUBSETS]
    meta = {"source": NUMINA_POOL, "subsets": subsets, "size_check": "unknown (no published sizes registered)"}
    return Prepared(NUMINA_POOL, kept, total, dropped, normalised, meta)


def write_prepared(prepared: Prepared, path: str | Path, settings: dict[str, Any] | None = None) -> Path:
    """Write the parquet file (validated, atomic), then ``<split>.meta.json`` and ``<split>.dropped.json``.

    ``settings`` (template, suite, samples per problem, fixture folder, ...) are recorded in the metadata.
    """
    path = write_dataset(prepared.rows, path)
    dropped = {"dataset": prepared.name, "count": len(prepared.dropped), "rows": prepared.dropped}
    meta = {
        "dataset": prepared.name,
        **prepared.meta,
        **(settings or {}),
        "rows_in_source": prepared.source_rows,
        "rows_written": len(prepared.rows),
        "rows_dropped": len(prepared.dropped),
        "golds_normalised": prepared.normalised,
        "git_commit": commit_label(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    sidecar(path, "dropped").write_text(json.dumps(dropped, indent=1, ensure_ascii=False))
    sidecar(path, "meta").write_text(json.dumps(meta, indent=1, ensure_ascii=False))
    return path
