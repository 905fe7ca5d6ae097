"""Demo assets: built once through the data contract and the warm-up, reported, and reused on the next call."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from verl_ext.data.contract import read_dataset
from verl_ext.testing.assets import EVAL_FILE, DemoSpec, build_demo_assets

REPO = Path(__file__).resolve().parents[2]
# a deliberately tiny spec: checks the wiring, not the learning (see scripts/make_tiny_assets.py for the real one)
SMALL = DemoSpec(n_train=16, n_val=8, n_sft=32, num_layers=1, hidden_size=32, heads=2, kv_heads=1, intermediate=64,
                 steps=3, batch_size=8, eval_samples=2)  # fmt: skip


def test_build_demo_assets_is_complete_and_cached() -> None:
    assets = build_demo_assets(SMALL)
    assert (assets.policy / "config.json").is_file() and (assets.policy / "chat_template.jinja").is_file()
    for tok_dir in (assets.arith_tokenizer, assets.qwen_tokenizer):
        assert (tok_dir / "tokenizer.json").is_file()
    train, val = read_dataset(assets.train), read_dataset(assets.val)
    assert (len(train), len(val)) == (16, 8)
    for split in ("train", "val"):
        rep = assets.report[split]
        assert 0.0 <= rep["mean"] <= 1.0
        assert rep["frac_never_solved"] + rep["frac_mixed"] + rep["frac_always_solved"] == pytest.approx(1.0, abs=1e-3)
    stamp = (assets.policy / EVAL_FILE).stat().st_mtime_ns
    again = build_demo_assets(SMALL)
    assert again == assets and (assets.policy / EVAL_FILE).stat().st_mtime_ns == stamp


def test_cli_prints_paths_and_report() -> None:
    args = [f"--{k.replace('_', '-')}={v}" for k, v in asdict(SMALL).items()]
    out = subprocess.run([sys.executable, "scripts/make_tiny_assets.py", "--json", *args], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    result = json.loads(out.strip().splitlines()[-1])
    assert result["policy"] == str(build_demo_assets(SMALL).policy)
    assert set(result["report"]) >= {"train", "val", "train_seconds"}
    # --shell: what scripts/demo.sh evals (paths shell-quoted)
    shell = subprocess.run([sys.executable, "scripts/make_tiny_assets.py", "--shell", *args], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout  # fmt: skip
    lines = dict(line.split("=", 1) for line in shell.strip().splitlines()[-3:])
    assert [shlex.split(lines[k])[0] for k in ("POLICY", "TRAIN", "VAL")] == [
        result["policy"],
        result["train"],
        result["val"],
    ]
