"""End to end on CPU: scripts/eval.py runs a tiny random Qwen2 (hf backend) on two hand-made benchmarks, scores with
the project's math reward, and scripts/make_table.py renders the CurES table from its summary (about 30-50 s)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture(scope="module")
def tiny_model() -> Path:
    from verl_ext.testing.tiny import build_tiny_model

    return build_tiny_model(arch="qwen2")  # cached folder: built once per machine


@pytest.mark.slow
def test_eval_then_table(
    tmp_path: Path, tiny_model: Path, make_rows: Any, save_benchmark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(SCRIPTS))
    monkeypatch.setenv("VERL_EXT_REWARD_WORKERS", "1")  # 5 responses to verify: one worker spawns fastest
    for mod in ("eval", "make_table"):
        sys.modules.pop(mod, None)
    import eval as eval_script
    import make_table

    data = tmp_path / "data"
    data.mkdir()
    math500 = make_rows("math500", [("What is 2+2?", "4"), ("What is 3*5?", "15"), ("Simplify 10/4.", "\\frac{5}{2}")])
    save_benchmark(math500, data, "math500")
    save_benchmark(make_rows("aime24", [("Find 7*11.", "77"), ("Find 100-1.", "99")]), data, "aime24")
    out = tmp_path / "results" / "tiny_base"
    summary = eval_script.main([
        "--model", str(tiny_model), "--suite", "cures", "--backend", "hf", "--benchmarks", "math500", "aime24",
        "--max-samples", "2", "--max-new-tokens", "8", "--data-dir", str(data), "--out-dir", str(out),
        "--model-label", "tiny-qwen2", "--method-label", "base", "--step", "0",
    ])  # fmt: skip

    # cures_default: MATH500 Pass@1 greedy, AIME24 Average@16 capped at 2 samples, T 0.6
    m500, aime = summary["benchmarks"]["math500"], summary["benchmarks"]["aime24"]
    assert summary["profile"]["name"] == "cures_default"
    assert m500["k"] == 1 and m500["n_problems"] == 3 and m500["sampling"]["do_sample"] is False
    assert aime["k"] == 2 and aime["n_problems"] == 2 and aime["sampling"]["temperature"] == 0.6
    records = json.loads((out / "aime24.json").read_text())["records"]
    assert len(records) == 4 and {r["sample"] for r in records} == {0, 1}
    assert all(isinstance(r["response"], str) and r["score"] in (0.0, 1.0) for r in records)
    assert all(r["score"] == 0.0 for r in records if r["truncated"])  # truncated → 0 (reward rule)
    assert summary["avg"]["missing"] == ["gsm8k", "gaokao2023en", "minerva", "olympiadbench", "aime25", "amc23"]
    provenance = json.loads((out / "provenance.json").read_text())  # verl_ext.provenance, written before evaluation
    assert provenance["kind"] == "eval" and provenance["config"]["suite"] == "cures"
    assert [d["path"] for d in provenance["datasets"]["aime24"]] == [str(data / "aime24" / "test.parquet")]

    tables = tmp_path / "tables"
    rendered = make_table.main(["--results-dir", str(tmp_path / "results"), "--layout", "cures_table1",
                                "--out-dir", str(tables)])["cures_table1"]  # fmt: skip
    print(rendered)
    ours = next(line for line in rendered.splitlines() if "| ours |" in line)
    cells = [c.strip() for c in ours.strip("|").split("|")]
    assert cells[:3] == ["tiny-qwen2", "base", "ours"]
    assert cells[3] == f"{100 * m500['avg_at_k']:.2f}‡" and cells[8] == f"{100 * aime['avg_at_k']:.2f}‡"
    assert cells[4:8] == ["—"] * 4 and cells[9:11] == ["—"] * 2 and cells[11].endswith("†")
    assert (tables / "cures_table1.csv").read_text().count("tiny-qwen2") == 3
