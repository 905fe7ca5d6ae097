"""Paper-style tables: our numbers, the published ones and deltas; a missing benchmark is missing, never zero."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from verl_ext.eval.benchmarks import SUITES
from verl_ext.eval.tables import LAYOUTS, build_rows, load_paper, load_summaries, render_markdown, write_csv

PAPER_DIR = Path(__file__).resolve().parents[2] / "data" / "paper_tables"


def _summary(model: str, method: str, scores: dict[str, float], step: int = 10, complete: bool = True,
             time_hours: float | None = None) -> dict:  # fmt: skip
    return {
        "model": model,
        "method": method,
        "step": step,
        "time_hours": time_hours,
        "benchmarks": {b: {"avg_at_k": v, "complete": complete} for b, v in scores.items()},
    }


def _write(root: Path, name: str, summary: dict) -> None:
    (root / name).mkdir(parents=True)
    (root / name / "summary.json").write_text(json.dumps(summary))


def _row(rows: list[dict], source: str, method: str = "PCL") -> dict:
    return next(r for r in rows if r["source"] == source and r["method"] == method)


def test_layouts_match_paper_csv_headers_and_suites() -> None:
    for layout in LAYOUTS.values():
        with (PAPER_DIR / layout.csv_file).open() as fh:
            header = next(csv.reader(fh))
        for col in layout.columns.values():
            assert col in header
        assert ("Avg" in header) == layout.has_avg and ("Time" in header) == layout.has_time
    assert list(LAYOUTS["pcl_table13"].columns) == SUITES["pcl"].benchmarks
    assert list(LAYOUTS["cures_table1"].columns) == SUITES["cures"].benchmarks


def test_pcl13_full_row_values_and_deltas(tmp_path: Path) -> None:
    scores = {"math500": 0.890, "olympiadbench": 0.560, "minerva": 0.470, "amc23": 0.700, "aime24": 0.250,
              "aime25": 0.240}  # fmt: skip
    _write(tmp_path, "run", _summary("Qwen3-8B-Base", "PCL", scores, time_hours=40.0))
    layout = LAYOUTS["pcl_table13"]
    rows = build_rows(load_summaries(tmp_path), load_paper(PAPER_DIR, layout), layout)
    ours, paper, delta = _row(rows, "ours"), _row(rows, "paper"), _row(rows, "Δ")
    assert ours["MATH500"] == pytest.approx(89.0)
    assert paper["MATH500"] == pytest.approx(88.4) and paper["Avg"] == pytest.approx(52.0)
    assert delta["MATH500"] == pytest.approx(0.6)
    assert ours["Avg"] == pytest.approx(100 * sum(scores.values()) / 6)
    assert delta["Time"] == pytest.approx(40.0 - 41.8)
    md = render_markdown(rows, layout)
    assert "| Qwen3-8B-Base | PCL | ours | 89.0 | 56.0 | 47.0 | 70.0 | 25.0 | 24.0 | 51.8 | 40.00 |" in md
    assert "| Qwen3-8B-Base | PCL | Δ | +0.6 |" in md
    assert "†" not in md


def test_missing_benchmark_is_missing_not_zero(tmp_path: Path) -> None:
    scores = {"math500": 0.8, "olympiadbench": 0.5, "minerva": 0.4, "amc23": 0.6, "aime24": 0.2}  # no aime25
    _write(tmp_path, "run", _summary("Qwen3-4B-Base", "PCL", scores))
    layout = LAYOUTS["pcl_table13"]
    rows = build_rows(load_summaries(tmp_path), load_paper(PAPER_DIR, layout), layout)
    ours, delta = _row(rows, "ours"), _row(rows, "Δ")
    assert ours["AIME25"] is None and delta["AIME25"] is None
    assert ours["_missing"] == ["AIME25"]
    assert ours["Avg"] == pytest.approx(50.0)  # mean of the five present, not (250 + 0) / 6
    assert delta["Avg"] is None  # an incomplete Avg is not compared with the published one
    md = render_markdown(rows, layout)
    ours_line = next(line for line in md.splitlines() if "| ours |" in line)
    cells = [c.strip() for c in ours_line.strip("|").split("|")]
    assert cells[3:] == ["80.0", "50.0", "40.0", "60.0", "20.0", "—", "50.0†", "—"]
    assert "missing: AIME25" in md
    out = tmp_path / "t.csv"
    write_csv(rows, layout, out)
    with out.open() as fh:
        rec = next(r for r in csv.DictReader(fh) if r["source"] == "ours")
    assert rec["AIME25"] == "" and rec["avg_complete"] == "false" and rec["missing"] == "AIME25"


def test_selection_best_for_pcl_last_for_cures_and_partial_mark(tmp_path: Path) -> None:
    _write(tmp_path, "a", _summary("Qwen3-1.7B-Base", "GRPO", {"math500": 0.70}, step=8))
    _write(tmp_path, "b", _summary("Qwen3-1.7B-Base", "GRPO", {"math500": 0.75}, step=16))
    _write(tmp_path, "c", _summary("Qwen3-1.7B-Base", "GRPO", {"math500": 0.72}, step=24))
    t1 = LAYOUTS["pcl_table1"]
    rows = build_rows(load_summaries(tmp_path), load_paper(PAPER_DIR, t1), t1)
    assert _row(rows, "ours", "GRPO")["MATH500"] == pytest.approx(75.0)  # best checkpoint (PCL's rule)
    cures = {b: 0.5 for b in SUITES["cures"].benchmarks}
    _write(tmp_path, "d", _summary("Qwen2.5-Math-7B", "CurES-GRPO", cures, step=140, complete=False))
    _write(tmp_path, "e", _summary("Qwen2.5-Math-7B", "CurES-GRPO", {**cures, "gsm8k": 0.9}, step=150, complete=False))
    ct = LAYOUTS["cures_table1"]
    rows = build_rows(load_summaries(tmp_path), load_paper(PAPER_DIR, ct), ct)
    ours = _row(rows, "ours", "CurES-GRPO")
    assert ours["GSM8K"] == pytest.approx(90.0)  # the last step, as CurES evaluates the final checkpoint
    assert _row(rows, "paper", "CurES-GRPO")["GSM8K"] == pytest.approx(92.27)
    md = render_markdown(rows, ct)
    assert "90.00‡" in md and "fewer problems or samples" in md


def test_unpublished_row_shows_missing_paper_cells(tmp_path: Path) -> None:
    _write(tmp_path, "x", _summary("tiny-qwen2", "smoke", {"math500": 0.0}))
    t1 = LAYOUTS["pcl_table1"]
    rows = build_rows(load_summaries(tmp_path), load_paper(PAPER_DIR, t1), t1)
    assert _row(rows, "ours", "smoke")["MATH500"] == 0.0  # a real zero stays a zero
    assert _row(rows, "paper", "smoke")["MATH500"] is None
    md = render_markdown(rows, t1)
    assert "| tiny-qwen2 | smoke | ours | 0.0 | — |" in md
    assert "| tiny-qwen2 | smoke | paper | — | — |" in md


def test_summary_without_labels_is_rejected(tmp_path: Path) -> None:
    _write(tmp_path, "x", {"benchmarks": {}})
    with pytest.raises(ValueError, match="--model-label"):
        load_summaries(tmp_path)
    with pytest.raises(FileNotFoundError, match="scripts/eval.py"):
        load_summaries(tmp_path / "empty")
