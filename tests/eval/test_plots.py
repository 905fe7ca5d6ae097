"""Metric-log readers (JSON lines, wandb CSV, tensorboard) and the paper figures as non-empty PNGs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from verl_ext.eval.logs import load_alloc_dump, load_metrics
from verl_ext.eval.plots import (
    plot_acc_distribution,
    plot_alloc_vs_acc,
    plot_explained_variance,
    plot_phat_quantiles,
    plot_runs,
)

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _write_log(path: Path, method: str, steps: int = 30, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    lines = []
    for s in range(1, steps + 1):
        rec = {"step": s, "time/train_gen_hours": 0.1 * s, "curriculum/effective_ratio": 0.5 + 0.01 * s,
               "curriculum/train_acc": float(rng.uniform(0.3, 0.7)), "note": "text values are ignored"}  # fmt: skip
        if method == "pcl":
            rec["pcl/value/ev"] = 1 - 1 / (1 + 0.2 * s)
            if s % 8 == 0:
                rec.update({"pcl/diag/ev": 0.4, "pcl/diag/ev_rollouts_1": 0.2, "pcl/diag/ev_rollouts_3": 0.45})
        if method == "cures":
            q = np.sort(rng.uniform(0, 1, 5))
            rec.update({f"cures/phat_q{k}": float(v) for k, v in zip(("05", "25", "50", "75", "95"), q)})
            rec.update({"cures/alloc_min": 2, "cures/alloc_mean": 8.0, "cures/alloc_max": 30})
        lines.append(json.dumps(rec))
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_dump(path: Path, steps: int = 6, m: int = 64) -> Path:
    rng = np.random.default_rng(1)
    with path.open("w") as fh:
        for s in range(steps):
            phat = rng.beta(2, 2, m)
            n = np.maximum(2, np.round(40 * np.sqrt(phat * (1 - phat)))).astype(int)
            fh.write(json.dumps({"step": s * 5, "phat": phat.tolist(), "n": n.tolist()}) + "\n")
    return path


def _is_png(path: Path | None) -> bool:
    return path is not None and path.stat().st_size > 5000 and path.read_bytes()[:8] == PNG_MAGIC


def test_jsonl_reader_indexes_by_step_and_keeps_last_duplicate(tmp_path: Path) -> None:
    log = _write_log(tmp_path / "m.jsonl", "pcl", steps=5)
    with log.open("a") as fh:
        fh.write(json.dumps({"step": 5, "curriculum/train_acc": 0.99}) + "\n")  # resumed run re-logs step 5
    df = load_metrics(log)
    assert df.index.tolist() == [1, 2, 3, 4, 5]
    assert df.loc[5, "curriculum/train_acc"] == pytest.approx(0.99)
    assert "note" not in df.columns


def test_wandb_csv_and_tensorboard_readers(tmp_path: Path) -> None:
    csv_path = tmp_path / "export.csv"
    csv_path.write_text(
        "Step,run-a - curriculum/effective_ratio,run-a - curriculum/effective_ratio__MIN\n1,0.5,0.4\n2,0.6,0.5\n"
    )
    df = load_metrics(csv_path)
    assert df["curriculum/effective_ratio"].tolist() == [0.5, 0.6]
    assert not any(c.endswith("__MIN") for c in df.columns)

    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(tmp_path / "tb"))
    for step in range(1, 4):
        value = Summary.Value(tag="pcl/value/ev", simple_value=0.1 * step)
        writer.add_event(Event(step=step, summary=Summary(value=[value])))
    writer.close()
    tb = load_metrics(tmp_path / "tb")
    assert tb.index.tolist() == [1, 2, 3]
    assert tb["pcl/value/ev"].tolist() == pytest.approx([0.1, 0.2, 0.3])


def test_plot_functions_make_pngs(tmp_path: Path) -> None:
    runs = {
        "GRPO": load_metrics(_write_log(tmp_path / "grpo.jsonl", "grpo", seed=1)),
        "PCL": load_metrics(_write_log(tmp_path / "pcl.jsonl", "pcl", seed=2)),
        "CurES": load_metrics(_write_log(tmp_path / "cures.jsonl", "cures", seed=3)),
    }
    snaps = load_alloc_dump(_write_dump(tmp_path / "alloc.jsonl"))
    out = tmp_path / "fig"
    made = [
        plot_runs(runs, ["curriculum/effective_ratio", "curriculum/train_acc"], out / "a.png"),
        plot_runs(runs, ["curriculum/effective_ratio"], out / "b.png", x="time/train_gen_hours"),
        plot_phat_quantiles(runs, out / "c.png"),
        plot_explained_variance(runs, out / "d.png"),
        plot_alloc_vs_acc(snaps, out / "e.png"),
        plot_acc_distribution(snaps, out / "f.png"),
    ]
    assert all(_is_png(p) for p in made)
    assert plot_runs(runs, ["no/such_metric"], out / "g.png") is None and not (out / "g.png").exists()
    assert plot_explained_variance({"GRPO": runs["GRPO"]}, out / "h.png") is None


def test_alloc_dump_shape_mismatch_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"step": 0, "phat": [0.1, 0.2], "n": [3]}) + "\n")
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        load_alloc_dump(bad)


def test_plot_metrics_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(SCRIPTS))
    sys.modules.pop("plot_metrics", None)
    import plot_metrics

    pcl = _write_log(tmp_path / "pcl.jsonl", "pcl")
    cures = _write_log(tmp_path / "cures.jsonl", "cures")
    dump = _write_dump(tmp_path / "d.jsonl")
    argv = ["--run", f"PCL={pcl}", "--run", f"CurES={cures}", "--alloc-dump", str(dump), "--x", "time"]
    made = plot_metrics.main([*argv, "--out-dir", str(tmp_path / "o")])
    expected = [
        "training_time.png",
        "cures_alloc_time.png",
        "cures_phat_quantiles_time.png",
        "pcl_explained_variance_time.png",
        "cures_alloc_vs_acc.png",
        "cures_acc_distribution.png",
    ]
    assert sorted(p.name for p in made) == sorted(expected)
    assert all(_is_png(p) for p in made)
