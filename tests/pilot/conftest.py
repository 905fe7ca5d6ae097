"""Fixtures of the offline-pass tests: a cached tiny Qwen2 model, a small contract parquet, a deterministic scorer."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


def problem(i: int) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"What is {i} + {i}? Let's think step by step."}]  # fmt: skip


def write_prompts(path: Path, n: int, start_index: int = 0) -> Path:
    from verl_ext.data.contract import make_row, write_dataset

    rows = [make_row("toy", problem(i), str(2 * i), index=start_index + i, split="train", source_row=100 + i)
            for i in range(n)]  # fmt: skip
    return write_dataset(rows, path)


def hash_scorer(responses: list[str], truths: list[str], truncated: list[bool]) -> np.ndarray:
    """Deterministic stand-in for the math reward on random-model text: 1 iff sha256(text) is odd (≈ half)."""
    return np.asarray([hashlib.sha256(r.encode()).digest()[-1] % 2 for r in responses], dtype=np.float64)


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    from verl_ext.testing.tiny import build_tiny_model

    return build_tiny_model(arch="qwen2")  # cached: built once per machine


@pytest.fixture(scope="session")
def stopping_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with every even token id as a stop token, so about half its sampled responses end within a
    few tokens (a random model almost never samples its one eos, and truncated responses always score 0)."""
    import json
    import shutil

    out = tmp_path_factory.mktemp("stopping_model")
    for f in tiny_model.iterdir():
        if f.is_file():
            shutil.copy2(f, out / f.name)
    gen = json.loads((out / "generation_config.json").read_text())
    eos = gen["eos_token_id"] if isinstance(gen["eos_token_id"], list) else [gen["eos_token_id"]]
    gen["eos_token_id"] = sorted(set(eos) | set(range(0, 151643, 2)))
    (out / "generation_config.json").write_text(json.dumps(gen))
    return out


@pytest.fixture
def use_hash_scorer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random tiny models never solve a problem; score by hash so some prompts are mixed (the real reward is
    tested on fixture responses in test_rollouts.py)."""
    import verl_ext.pilot.cli as cli

    monkeypatch.setattr(cli, "training_scorer", lambda timeout=None: hash_scorer)
