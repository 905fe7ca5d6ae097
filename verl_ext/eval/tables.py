"""Paper-style result tables: our evaluation summaries next to the published numbers, with deltas.

Layouts follow PCL Table 1 (MATH: MATH500 + Time), PCL Table 13 (DeepScaleR: six benchmarks, Avg, Time) and CurES
Table 1 (eight benchmarks, Avg). Each of our (model, method) entries gives three lines: ``ours``, ``paper``, ``Δ``.
A benchmark we did not evaluate is shown as missing ("—" in Markdown, an empty cell in CSV), never as zero; the Avg
is then the mean of what is present and marked incomplete (†). A benchmark evaluated on fewer problems or samples
than the paper is marked ‡.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verl_ext.eval.metrics import paper_avg

logger = logging.getLogger(__name__)

__all__ = ["LAYOUTS", "TableLayout", "build_rows", "load_paper", "load_summaries", "render_markdown", "write_csv"]

MISSING = "—"


@dataclass(frozen=True)
class TableLayout:
    """Columns (registry benchmark name → paper CSV column), Avg/Time presence, decimals and checkpoint choice."""

    name: str
    title: str
    csv_file: str
    columns: dict[str, str]
    has_avg: bool
    has_time: bool
    decimals: int
    select: str  # "best": best Avg (PCL's reported checkpoint); "last": highest step (CurES: final checkpoint)


_PCL6 = {"math500": "MATH500", "olympiadbench": "OlympiadBench", "minerva": "Minerva", "amc23": "AMC23",
         "aime24": "AIME24", "aime25": "AIME25"}  # fmt: skip
_CURES8 = {"math500": "MATH500", "gsm8k": "GSM8K", "gaokao2023en": "Gaokao2023EN", "minerva": "Minerva",
           "olympiadbench": "OlympiadBench", "aime24": "AIME24", "aime25": "AIME25", "amc23": "AMC23"}  # fmt: skip

LAYOUTS: dict[str, TableLayout] = {
    "pcl_table1": TableLayout(
        "pcl_table1",
        "PCL Table 1 (MATH): MATH500 %, Time h",
        "pcl_table1_math.csv",
        {"math500": "MATH500"},
        False,
        True,
        1,
        "best",
    ),  # fmt: skip
    "pcl_table13": TableLayout(
        "pcl_table13",
        "PCL Tables 1/13 (DeepScaleR): accuracy %, Time h",
        "pcl_table13_deepscaler.csv",
        _PCL6,
        True,
        True,
        1,
        "best",
    ),  # fmt: skip
    "cures_table1": TableLayout(
        "cures_table1", "CurES Table 1: Pass@1 / Average@16 %", "cures_table1.csv", _CURES8, True, False, 2, "last"
    ),  # fmt: skip
}


def load_summaries(results_dir: Path) -> list[dict[str, Any]]:
    """Every ``summary.json`` under ``results_dir`` (one per evaluated run); each needs ``model`` and ``method``."""
    paths = sorted(Path(results_dir).rglob("summary.json"))
    if not paths:
        raise FileNotFoundError(f"no summary.json under {results_dir}; run scripts/eval.py with --out-dir there first")
    out = []
    for path in paths:
        data = json.loads(path.read_text())
        if not data.get("model") or not data.get("method"):
            raise ValueError(f"{path} has no model/method label; re-run eval.py with --model-label and --method-label")
        out.append({**data, "_path": str(path)})
    return out


def load_paper(paper_dir: Path, layout: TableLayout) -> dict[tuple[str, str], dict[str, float | None]]:
    """Published rows keyed by (model, method); empty cells (the paper's "/") become None."""
    path = Path(paper_dir) / layout.csv_file
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    keys = list(layout.columns.values()) + (["Avg"] if layout.has_avg else []) + (["Time"] if layout.has_time else [])
    return {(r["model"], r["method"]): {c: float(r[c]) if r.get(c) else None for c in keys} for r in rows}


def _our_cells(summary: dict[str, Any], layout: TableLayout) -> dict[str, Any]:
    """Our values in percent, plus which benchmarks are partial and which are missing."""
    benches = summary.get("benchmarks", {})
    values = {col: 100.0 * benches[b]["avg_at_k"] if b in benches else None for b, col in layout.columns.items()}
    partial = {col for b, col in layout.columns.items() if b in benches and not benches[b].get("complete", False)}
    cells: dict[str, Any] = dict(values)
    if layout.has_avg:
        cells["Avg"], missing = paper_avg(values, list(layout.columns.values()))
        cells["_missing"] = missing
    else:
        cells["_missing"] = [c for c, v in values.items() if v is None]
    if layout.has_time:
        cells["Time"] = summary.get("time_hours")
    cells["_partial"] = sorted(partial)
    return cells


def _select(summaries: list[dict[str, Any]], layout: TableLayout) -> dict[tuple[str, str], dict[str, Any]]:
    """One summary per (model, method): best Avg (or MATH500 for Table 1), or the last step."""
    chosen: dict[tuple[str, str], tuple[tuple, dict]] = {}
    for s in summaries:
        cells = _our_cells(s, layout)
        score = cells["Avg"] if layout.has_avg else cells["MATH500"]
        rank = (s.get("step") or -1, s["_path"]) if layout.select == "last" else (score if score is not None else -1.0,)
        key = (s["model"], s["method"])
        if key not in chosen or rank > chosen[key][0]:
            chosen[key] = (rank, s)
    return {k: v[1] for k, v in chosen.items()}


def build_rows(summaries: list[dict[str, Any]], paper: dict[tuple[str, str], dict], layout: TableLayout) -> list[dict]:
    """Rows ``{model, method, source, <col>: float|None, _missing, _partial}`` for ours / paper / delta, in the
    paper's row order (unknown models or methods last)."""
    selected = _select(summaries, layout)
    order = {k: i for i, k in enumerate(paper)}
    rows: list[dict] = []
    for key in sorted(selected, key=lambda k: (order.get(k, len(order)), k)):
        ours = _our_cells(selected[key], layout)
        pub = paper.get(key)
        if pub is None:
            logger.warning("no published row for model=%r method=%r in %s", *key, layout.csv_file)
        cols = [c for c in ours if not c.startswith("_")]
        delta = {}
        for c in cols:
            incomplete_avg = c == "Avg" and ours["_missing"]
            both = pub is not None and ours[c] is not None and pub.get(c) is not None
            delta[c] = ours[c] - pub[c] if both and not incomplete_avg else None
        base = {"model": key[0], "method": key[1]}
        rows.append({**base, "source": "ours", **ours})
        rows.append(
            {**base, "source": "paper", **{c: (pub or {}).get(c) for c in cols}, "_missing": [], "_partial": []}
        )
        rows.append({**base, "source": "Δ", **delta, "_missing": [], "_partial": []})
    return rows


def _columns(layout: TableLayout) -> list[str]:
    return list(layout.columns.values()) + (["Avg"] if layout.has_avg else []) + (["Time"] if layout.has_time else [])


def _fmt(row: dict, col: str, decimals: int) -> str:
    value = row.get(col)
    if value is None:
        return MISSING
    text = f"{value:+.{decimals}f}" if row["source"] == "Δ" else f"{value:.{decimals}f}"
    if row["source"] == "ours" and col == "Avg" and row["_missing"]:
        text += "†"
    if row["source"] == "ours" and col in row["_partial"]:
        text += "‡"
    return text


def render_markdown(rows: list[dict], layout: TableLayout) -> str:
    """A Markdown table with footnotes for incomplete Avg (†) and partial benchmarks (‡)."""
    cols = _columns(layout)
    lines = [f"### {layout.title}", "", "| model | method | | " + " | ".join(cols) + " |",
             "|---|---|---|" + "---:|" * len(cols)]  # fmt: skip
    for row in rows:
        cells = [_fmt(row, c, layout.decimals if c != "Time" else 2) for c in cols]
        lines.append(f"| {row['model']} | {row['method']} | {row['source']} | " + " | ".join(cells) + " |")
    notes = [c for c in _columns(layout) if any(c in r["_missing"] for r in rows)]
    lines += ["", "— = not evaluated (ours) or not published (paper); never read as 0."]
    if notes and layout.has_avg:
        lines.append(f"† = Avg incomplete: mean over the benchmarks present (missing: {', '.join(notes)}).")
    if any(r["_partial"] for r in rows):
        lines.append("‡ = evaluated on fewer problems or samples than the paper (smoke run).")
    return "\n".join(lines) + "\n"


def write_csv(rows: list[dict], layout: TableLayout, path: Path) -> None:
    """CSV twin of the Markdown table; a missing value is an empty cell, never 0."""
    cols = _columns(layout)
    with Path(path).open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["model", "method", "source", *cols, "avg_complete", "missing", "partial"])
        for r in rows:
            vals = ["" if r.get(c) is None else f"{r[c]:.4f}" for c in cols]
            writer.writerow([r["model"], r["method"], r["source"], *vals, str(not r["_missing"]).lower(),
                             ";".join(r["_missing"]), ";".join(r["_partial"])])  # fmt: skip
