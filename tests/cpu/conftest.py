"""Run ``python -m verl.trainer.main_ppo`` with the demo config and the CPU profile; parse its console metrics."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_STEP = re.compile(r"step:(\d+) - (.*)$")


@dataclass
class Run:
    returncode: int
    log: str
    seconds: float
    steps: dict[int, dict[str, float]]


def parse_steps(log: str) -> dict[int, dict[str, float]]:
    """verl's console logger prints ``step:N - key:value - key:value ...`` once per step."""
    steps: dict[int, dict[str, float]] = {}
    for line in log.splitlines():
        m = _STEP.search(line)
        if not m:
            continue
        metrics = {}
        for item in m.group(2).split(" - "):
            key, _, raw = item.rpartition(":")
            raw = re.sub(r"np\.\w+\((.*)\)", r"\1", raw.strip())
            try:
                metrics[key.strip()] = float(ast.literal_eval(raw))
            except (ValueError, SyntaxError):
                continue
        steps[int(m.group(1))] = metrics
    return steps


def demo_assets() -> tuple[Path, Path]:
    """(policy dir, train parquet) of the cached demo assets (built on first use)."""
    from verl_ext.testing.assets import build_demo_assets

    assets = build_demo_assets()
    return assets.policy, assets.train


def run_main_ppo(out_dir: Path, *overrides: str, profile: bool = True, timeout: int = 600) -> Run:
    """One ``main_ppo`` process with ``configs/demo_grpo.yaml``; its local Ray cluster ends with the process."""
    policy, train = demo_assets()
    cmd = [
        sys.executable,
        "-m",
        "verl.trainer.main_ppo",
        "--config-path",
        str(REPO / "configs"),
        "--config-name",
        "demo_grpo",
        *(["+platform=cpu"] if profile else []),
        f"actor_rollout_ref.model.path={policy}",
        f"data.train_files={train}",
        f"data.val_files={train}",
        f"trainer.default_local_dir={out_dir / 'checkpoints'}",
        *overrides,
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("VERL_PLATFORM", "VERL_USE_EXTERNAL_MODULES")}
    env.update(HF_HUB_OFFLINE="1", RAY_DEDUP_LOGS="0", PYTHONUNBUFFERED="1")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=out_dir, env=env, capture_output=True, text=True, timeout=timeout)
    log = proc.stdout + proc.stderr
    (out_dir / "main_ppo.log").write_text(log)
    return Run(proc.returncode, log, time.perf_counter() - t0, parse_steps(log))


@pytest.fixture
def main_ppo() -> Callable[..., Run]:
    """``run_main_ppo`` as a fixture (test modules are imported with importlib mode: no package imports)."""
    return run_main_ppo
