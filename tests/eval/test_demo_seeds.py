"""The demo over seeds: mean ± sd per method, the validation curve, the CLI's seed table and the live progress lines."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from verl_ext.eval.demo_report import summarize
from verl_ext.eval.demo_seeds import (
    aggregate,
    follow,
    progress_line,
    render_seed_table,
    split_label,
    val_curve,
    write_seed_report,
)

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
VAL = "val-core/synthetic_arith/acc/mean@1"


def _frame(val: dict[int, float], eff: list[float], rollouts: int = 64) -> pd.DataFrame:
    """Step-indexed metrics as load_metrics returns them: validation at some steps, training metrics at 1..N."""
    steps = range(1, len(eff) + 1)
    df = pd.DataFrame({"curriculum/effective_ratio": eff, "curriculum/train_acc": [0.5] * len(eff),
                       "curriculum/responses": [float(rollouts)] * len(eff), "timing_s/step": [2.0] * len(eff)},
                      index=list(steps))  # fmt: skip
    df = df.reindex(sorted(set(df.index) | set(val)))
    df[VAL] = pd.Series(val)
    return df


@pytest.fixture
def frames() -> dict[str, pd.DataFrame]:
    return {
        "grpo@1": _frame({0: 0.50, 2: 0.55, 4: 0.60}, [0.25, 0.25, 0.25, 0.25]),
        "grpo@2": _frame({0: 0.50, 2: 0.51, 4: 0.56}, [0.50, 0.50, 0.50, 0.50]),
        "pcl@1": _frame({0: 0.50, 4: 0.52}, [0.75, 0.75, 0.75, 0.75], rollouts=80),
    }


def test_split_label() -> None:
    assert split_label("grpo@12") == ("grpo", "12") and split_label("cures") == ("cures", "")
    for bad in ("@1", "grpo@"):
        with pytest.raises(ValueError, match="METHOD@SEED"):
            split_label(bad)


def test_aggregate_mean_and_sample_sd(frames: dict[str, pd.DataFrame]) -> None:
    rows = {label: summarize(label, df, wall_seconds=100.0 + i) for i, (label, df) in enumerate(frames.items())}
    grpo, pcl = aggregate(rows)
    assert grpo.method == "grpo" and grpo.seeds == ("1", "2") and grpo.steps == 4
    # effective ratio: 0.25 and 0.5 -> mean 0.375, sample sd 0.25 / sqrt(2)
    assert grpo.stats["effective_ratio"] == pytest.approx((0.375, 0.25 / math.sqrt(2)))
    # validation gain is the per-seed paired difference: 0.10 and 0.06
    assert grpo.stats["val_gain"] == pytest.approx((0.08, 0.04 / math.sqrt(2)))
    assert grpo.stats["val_acc_end"] == pytest.approx((0.58, 0.04 / math.sqrt(2)))
    assert grpo.stats["wall_seconds"] == pytest.approx((100.5, math.sqrt(0.5)))
    assert pcl.seeds == ("1",) and pcl.stats["rollouts"] == (320.0, 0.0)  # one seed: sd 0
    table = render_seed_table([grpo, pcl]).splitlines()
    assert table[0].startswith("| method | seeds | steps | val acc (start) |")
    assert "| grpo | 2 | 4 | 0.500 ± 0.000 | 0.580 ± 0.028 | 0.080 ± 0.028 | 0.375 ± 0.177 |" in table[2]


def test_aggregate_keeps_missing_metrics_missing(frames: dict[str, pd.DataFrame]) -> None:
    df = frames["pcl@1"].drop(columns=["curriculum/effective_ratio", VAL])
    (row,) = aggregate({"pcl@1": summarize("pcl@1", df)})
    assert all(math.isnan(v) for v in row.stats["effective_ratio"]) and math.isnan(row.stats["val_gain"][0])
    assert "| — |" in render_seed_table([row])


def test_val_curve_per_step(frames: dict[str, pd.DataFrame]) -> None:
    curve = val_curve(frames)
    assert list(curve.index) == [0, 2, 4]
    assert curve.loc[4, "grpo mean"] == pytest.approx(0.58) and curve.loc[2, "grpo sd"] == pytest.approx(0.04 / 2**0.5)
    assert curve.loc[4, "pcl mean"] == pytest.approx(0.52) and math.isnan(curve.loc[2, "pcl mean"])


def test_write_seed_report(frames: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    rows = {label: summarize(label, df) for label, df in frames.items()}
    text = write_seed_report(rows, frames, tmp_path)
    assert (tmp_path / "demo_seeds.md").read_text() == text + "\n"
    assert "| 4 | 0.580 ± 0.028 | 0.520 ± 0.000 |" in text  # the curve's last row: grpo, pcl
    csv_rows = pd.read_csv(tmp_path / "demo_seeds.csv")
    assert list(csv_rows["method"]) == ["grpo", "pcl"] and csv_rows.loc[0, "val_gain_mean"] == pytest.approx(0.08)
    assert pd.read_csv(tmp_path / "demo_val_curve.csv", index_col="step").loc[0, "grpo mean"] == pytest.approx(0.5)


def test_progress_line() -> None:
    rec = {"step": 3, "data": {"timing_s/step": 2.345, "curriculum/train_acc": 0.5, "curriculum/effective_ratio": 0.25,
                               "curriculum/calib/bias": -0.1, VAL: 0.61, "actor/lr": 1e-4}}  # fmt: skip
    line = progress_line(rec, 30, "pcl@1")
    assert line == ("[pcl@1] step 3/30 | 2.3 s/step | train_acc 0.500 | eff_ratio 0.250 | p_bias -0.100 | "
                    "val_acc 0.610")  # fmt: skip
    assert progress_line({"step": 0, "data": {VAL: 0.5}}, 30, "g") == "[g] step 0/30 | val_acc 0.500"
    assert progress_line({"step": 1, "data": {"actor/lr": 1.0}}, 30, "g") is None  # nothing worth a line
    assert progress_line({"data": {}}, 30, "g") is None


def test_follow_prints_completed_lines_until_the_process_exits(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    records = [{"step": 0, "data": {VAL: 0.5}}, {"step": 1, "data": {"timing_s/step": 2.0}}]
    lines = [json.dumps(r).encode() + b"\n" for r in records]
    path.write_bytes(lines[0] + lines[1][:10])  # the second record is half written
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    polls = []

    def _sleep(_: float) -> None:  # the run writes the rest of the line; the follower sees it on its next poll
        polls.append(1)
        path.write_bytes(lines[0] + lines[1])
        time.sleep(0.05)
        proc.poll()  # reap the child once it exits (as demo.sh's `wait` does), so its pid disappears

    out = io.StringIO()
    printed = follow(path, 2, "grpo@1", pid=proc.pid, out=out, poll_s=0.0, sleep=_sleep)
    assert printed == 2 and polls and proc.returncode == 0
    assert out.getvalue().splitlines() == ["[grpo@1] step 0/2 | val_acc 0.500", "[grpo@1] step 1/2 | 2.0 s/step"]
    # without a pid: one pass over the file
    assert follow(path, 2, "again", out=io.StringIO()) == 2


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(SCRIPTS))
    sys.modules.pop("demo_report", None)
    import demo_report

    return demo_report


def test_cli_writes_the_seed_table(tmp_path: Path, cli: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from verl.utils.tracking import FileLogger

    args = []
    for seed, end in ((1, 0.6), (2, 0.7)):
        path = tmp_path / f"grpo/seed{seed}/metrics.jsonl"
        path.parent.mkdir(parents=True)
        monkeypatch.setenv("VERL_FILE_LOGGER_PATH", str(path))
        log = FileLogger("demo", "run")
        log.log({VAL: 0.5}, 0)
        log.log({"curriculum/effective_ratio": 0.25, "timing_s/step": 2.0, VAL: end}, 1)
        log.finish()
        args += ["--run", f"grpo@{seed}={path}"]
    cli.main([*args, "--out-dir", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    assert "| grpo | 2 | 1 | 0.500 ± 0.000 | 0.650 ± 0.071 | 0.150 ± 0.071 |" in printed
    assert (tmp_path / "out" / "demo_seeds.md").is_file() and (tmp_path / "out" / "demo_table.md").is_file()
    with pytest.raises(SystemExit):
        cli.main(["--run", f"grpo@={tmp_path}", "--out-dir", str(tmp_path / "out")])
