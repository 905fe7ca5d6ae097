"""scripts/demo.sh: its demo-only knobs reach the composed config (a dry run composes; nothing is built or trained)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _dry_run(**env: str) -> list[dict]:
    full = {**os.environ, "DRY_RUN": "1", "PYTHON": sys.executable, **env}
    out = subprocess.run(["bash", "scripts/demo.sh"], cwd=ROOT, env=full, check=True, capture_output=True, text=True)
    # one "# dry run (...)" comment line, then the resolved YAML of that method
    docs = out.stdout.split("# dry run (")[1:]
    return [yaml.safe_load(chunk.split("\n", 1)[1]) for chunk in docs]


def test_value_lr_is_pcl_only_and_policy_lr_is_shared() -> None:
    (pcl,) = _dry_run(DEMO_METHODS="pcl", DEMO_LR="2e-4", DEMO_VALUE_LR="3e-3")
    assert pcl["actor_rollout_ref"]["actor"]["optim"]["lr"] == 2e-4
    assert pcl["curriculum"]["value_model"]["optim"]["lr"] == 3e-3


def test_unknown_method_is_refused_by_name() -> None:
    full = {**os.environ, "DRY_RUN": "1", "PYTHON": sys.executable, "DEMO_METHODS": "grpo nope"}
    proc = subprocess.run(["bash", "scripts/demo.sh"], cwd=ROOT, env=full, capture_output=True, text=True)
    assert proc.returncode != 0 and "unknown method 'nope'" in proc.stderr


def _asset_line(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k != "DEMO_ASSET_ARGS"}
    full = {**base, "DRY_RUN": "1", "PYTHON": sys.executable, "DEMO_METHODS": "grpo", **env}
    out = subprocess.run(["bash", "scripts/demo.sh"], cwd=ROOT, env=full, check=True, capture_output=True, text=True)
    (line,) = [x for x in out.stdout.splitlines() if x.startswith("# assets")]
    return line


def test_default_policy_is_the_format_defect_variant_and_empty_args_the_plain_one() -> None:
    assert _asset_line().endswith("--format-defect 0.6")
    assert "--format-defect" not in _asset_line(DEMO_ASSET_ARGS="")
    assert _asset_line(DEMO_ASSET_ARGS="--format-defect 0.5").endswith("--format-defect 0.5")
