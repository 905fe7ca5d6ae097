"""One entry point serves every training recipe: ``python -m recipes.main --config-name=<method>``; the
``recipes.<m>.main_<m>`` aliases compose the same config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from recipes.main import TRAINING_CONFIGS, alias

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_every_training_config_exists() -> None:
    assert all((ROOT / "configs" / f"{name}.yaml").is_file() for name in TRAINING_CONFIGS)


def test_entry_without_config_name_is_refused_naming_the_choices() -> None:
    proc = _run("recipes.main")
    assert proc.returncode != 0
    assert "--config-name=<name>" in proc.stderr and "pcl" in proc.stderr and "prefilter" in proc.stderr


def test_alias_composes_what_the_entry_composes() -> None:
    via_entry = _run("recipes.main", "--config-name=pcl", "seed=7", "--cfg", "job")
    via_alias = _run("recipes.pcl.main_pcl", "seed=7", "--cfg", "job")
    assert via_entry.returncode == 0 and via_alias.returncode == 0, via_entry.stderr[-2000:] + via_alias.stderr[-2000:]
    assert "\n  recipe: pcl\n" in via_entry.stdout
    assert via_alias.stdout == via_entry.stdout


def test_alias_refuses_an_unknown_config() -> None:
    with pytest.raises(ValueError, match="unknown training config 'nope'; valid: cures, ds"):
        alias("__main__", "nope")
