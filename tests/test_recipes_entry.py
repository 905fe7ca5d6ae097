"""One entry point serves every training recipe: ``python -m recipes.main --config-name=<method>``; there are no
per-method entry modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from recipes.main import TRAINING_CONFIGS

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_every_training_config_exists() -> None:
    assert all((ROOT / "configs" / f"{name}.yaml").is_file() for name in TRAINING_CONFIGS)


def test_entry_without_config_name_is_refused_naming_the_choices() -> None:
    proc = _run("recipes.main")
    assert proc.returncode != 0
    assert "--config-name=<name>" in proc.stderr and "pcl" in proc.stderr and "prefilter" in proc.stderr


def test_entry_composes_the_named_config_with_overrides() -> None:
    proc = _run("recipes.main", "--config-name=speed", "seed=7", "--cfg", "job")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "\n  recipe: speed\n" in proc.stdout and "\nseed: 7\n" in proc.stdout
