"""The CPU demo's report: metrics written by verl's own FileLogger → summary rows, Markdown/CSV table, PNG figure."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

from verl_ext.eval.demo_report import render_table, summarize, write_report
from verl_ext.eval.logs import load_metrics

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _write_verl_log(path: Path, monkeypatch: pytest.MonkeyPatch, accs: list[float], responses: list[int],
                    seconds: list[float], effective: list[float] | None = None,
                    val: tuple[float, float] | None = None) -> Path:  # fmt: skip
    """Write a metrics file with verl 0.9.1's own ``file`` tracking backend, as ``trainer.logger=[console,file]``.

    ``val``: validation accuracy before training (logged alone at step 0, as verl's val_before_train does) and at
    the last step (logged with that step's training metrics).
    """
    from verl.utils.tracking import FileLogger

    path.parent.mkdir(parents=True, exist_ok=True)  # verl creates no folder for an explicit path
    monkeypatch.setenv("VERL_FILE_LOGGER_PATH", str(path))
    log = FileLogger("demo", "run")
    key = "val-core/synthetic_arith/acc/mean@1"
    if val is not None:
        log.log({key: val[0], "val-core/synthetic_arith/reward/mean@1": val[0]}, 0)
    for step, (acc, n, sec) in enumerate(zip(accs, responses, seconds, strict=True), start=1):
        data = {"curriculum/train_acc": acc, "curriculum/responses": float(n), "timing_s/step": sec,
                "training/global_step": step}  # fmt: skip
        if effective is not None:
            data["curriculum/effective_ratio"] = effective[step - 1]
        if val is not None and step == len(accs):
            data[key] = val[1]
        log.log(data, step)
    log.finish()
    return path


@pytest.fixture
def two_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    grpo = _write_verl_log(tmp_path / "grpo" / "metrics.jsonl", monkeypatch, accs=[0.2, 0.4, 0.6, 0.8],
                           responses=[32, 32, 32, 32], seconds=[9.0, 3.0, 3.0, 3.0],
                           effective=[0.5, 0.25, 0.75, 0.5], val=(0.25, 0.5))  # fmt: skip
    # PCL-like: no effective ratio logged at all, a different rollout count per step
    pcl = _write_verl_log(tmp_path / "pcl" / "metrics.jsonl", monkeypatch, accs=[0.5, 0.5, 0.25, 0.75],
                          responses=[40, 32, 32, 32], seconds=[12.0, 4.0, 4.0, 4.0])  # fmt: skip
    (tmp_path / "grpo" / "wall_seconds.txt").write_text("95\n")
    return {"grpo": grpo, "pcl": pcl}


def test_verl_file_logger_output_is_read_by_step(two_runs: dict[str, Path]) -> None:
    df = load_metrics(two_runs["grpo"])
    assert list(df.index) == [0, 1, 2, 3, 4]  # step 0: the validation before training
    assert df.loc[3, "curriculum/train_acc"] == pytest.approx(0.6)
    assert df.loc[1, "timing_s/step"] == pytest.approx(9.0)


def test_summary_row(two_runs: dict[str, Path]) -> None:
    row = summarize("grpo", load_metrics(two_runs["grpo"]), wall_seconds=95.0)
    assert row.steps == 4
    assert row.acc_final == pytest.approx(0.8)
    assert row.acc_mean == pytest.approx(0.5)
    assert row.acc_last_quarter == pytest.approx(0.8)  # 4 steps: the last one
    assert row.effective_ratio == pytest.approx(0.5)
    assert row.val_acc_start == pytest.approx(0.25) and row.val_acc_end == pytest.approx(0.5)
    assert row.rollouts == 128
    assert row.first_step_seconds == pytest.approx(9.0) and row.seconds_per_step == pytest.approx(3.0)
    pcl = summarize("pcl", load_metrics(two_runs["pcl"]))
    assert pcl.rollouts == 136 and math.isnan(pcl.effective_ratio) and math.isnan(pcl.wall_seconds)
    assert math.isnan(pcl.val_acc_start) and math.isnan(pcl.val_acc_end)  # never validated


def test_table_marks_missing_metrics(two_runs: dict[str, Path]) -> None:
    rows = [summarize(m, load_metrics(p)) for m, p in two_runs.items()]
    lines = render_table(rows).splitlines()
    assert lines[0].startswith("| method | steps | train acc (final) |") and len(lines) == 4
    assert lines[2] == "| grpo | 4 | 0.800 | 0.500 | 0.800 | 0.500 | 0.250 | 0.500 | 128 | 9.000 | 3.000 | — |"
    assert lines[3].split(" | ")[5] == "—"  # pcl's effective ratio was not logged: shown missing, not 0


def test_write_report_files(two_runs: dict[str, Path], tmp_path: Path) -> None:
    runs = {m: (load_metrics(p), 95.0 if m == "grpo" else math.nan) for m, p in two_runs.items()}
    out = tmp_path / "report"
    table, figure = write_report(runs, out)
    assert (out / "demo_table.md").read_text() == table + "\n"
    with (out / "demo_table.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["method"] for r in rows] == ["grpo", "pcl"]
    assert float(rows[0]["wall_seconds"]) == 95.0 and int(rows[1]["rollouts"]) == 136
    assert figure == out / "demo_metrics.png"
    data = figure.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    # five panels (train acc, effective ratio, val acc, cumulative rollouts, s/step) in a 3-column grid: 2 rows
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > height and 1.5 < width / height < 2.5


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """scripts/demo_report.py, imported as a module."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    sys.modules.pop("demo_report", None)
    import demo_report

    return demo_report


def test_cli_prints_table_and_reads_wall_time(two_runs: dict[str, Path], tmp_path: Path, cli: ModuleType,
                                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    out = tmp_path / "cli"
    table = cli.main(["--run", f"grpo={two_runs['grpo']}", "--run", f"pcl={two_runs['pcl']}", "--out-dir", str(out)])
    printed = capsys.readouterr().out
    assert table in printed and "| grpo | 4 |" in printed
    assert table.splitlines()[2].endswith("| 95.0 |")  # wall_seconds.txt next to grpo's metrics
    assert (out / "demo_metrics.png").exists()


def test_cli_rejects_malformed_run(tmp_path: Path, cli: ModuleType) -> None:
    with pytest.raises(SystemExit, match="METHOD@SEED=PATH"):
        cli.main(["--run", "no-equals-sign", "--out-dir", str(tmp_path)])


def test_val_accuracy_prefers_acc_and_falls_back_to_reward() -> None:
    import pandas as pd

    from verl_ext.eval.demo_report import val_accuracy

    both = pd.DataFrame({"val-core/a/acc/mean@1": [0.2, None, 0.6], "val-core/b/acc/mean@4": [0.4, None, 0.8],
                         "val-core/a/reward/mean@1": [9.0, None, 9.0]}, index=[0, 1, 2])  # fmt: skip
    assert val_accuracy(both).to_dict() == pytest.approx({0: 0.3, 2: 0.7})  # mean over data sources, acc first
    reward_only = pd.DataFrame({"val-core/a/reward/mean@1": [0.1, 0.3]}, index=[0, 5])
    assert val_accuracy(reward_only).to_dict() == pytest.approx({0: 0.1, 5: 0.3})
    assert val_accuracy(pd.DataFrame({"curriculum/train_acc": [0.5]})).empty
