"""Data tests share one real Qwen2.5 BPE tokenizer built offline (verl_ext.testing.tiny, cached)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def qwen_tokenizer_dir() -> Path:
    from verl_ext.testing.tiny import build_qwen_tokenizer

    return build_qwen_tokenizer()


@pytest.fixture(scope="session")
def qwen_tokenizer(qwen_tokenizer_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(qwen_tokenizer_dir)
