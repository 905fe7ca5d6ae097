"""The arithmetic-domain tokenizer: lossless, Qwen2.5 special tokens, short ChatML prompts, cached builds."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from verl_ext.data.synthetic import generate_splits
from verl_ext.testing.domain_tokenizer import build_arith_tokenizer
from verl_ext.testing.tiny import QWEN25_SPECIAL_TOKENS


@pytest.fixture(scope="module")
def tok():
    return AutoTokenizer.from_pretrained(str(build_arith_tokenizer()), local_files_only=True)


def test_small_vocab_with_qwen_special_tokens_last(tok) -> None:
    n = len(tok)
    assert 256 + len(QWEN25_SPECIAL_TOKENS) <= n <= 320 + len(QWEN25_SPECIAL_TOKENS)
    ids = [tok.convert_tokens_to_ids(t) for t in QWEN25_SPECIAL_TOKENS]
    assert ids == list(range(n - len(QWEN25_SPECIAL_TOKENS), n))
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>" and tok.bos_token is None


@pytest.mark.parametrize("text", ["Hello, wörld! 你好 🙂", "x\n\n\ty = 3", "\\boxed{-12}", "<|im_start|>a<|im_end|>"])
def test_any_text_round_trips(tok, text: str) -> None:
    assert tok.decode(tok.encode(text)) == text


def test_task_prompts_are_short_and_digits_split(tok) -> None:
    row = generate_splits({"train": 1}, seed=0)["train"][0]
    text = tok.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
    assert text == f"<|im_start|>user\n{row['prompt'][0]['content']}<|im_end|>\n<|im_start|>assistant\n"
    assert len(tok.encode(text)) <= 25
    assert tok.convert_ids_to_tokens(tok.encode("\\boxed{305}")) == ["\\boxed", "{", "3", "0", "5", "}"]


def test_build_is_deterministic_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = build_arith_tokenizer()
    monkeypatch.setenv("VERL_EXT_CACHE", str(tmp_path / "cache"))
    fresh = build_arith_tokenizer()
    assert fresh.parent == tmp_path / "cache"
    assert (fresh / "tokenizer.json").read_bytes() == (default / "tokenizer.json").read_bytes()
    copy = build_arith_tokenizer(tmp_path / "copy")
    assert (copy / "tokenizer.json").read_bytes() == (default / "tokenizer.json").read_bytes()
    with pytest.raises(ValueError, match="must be >= 256"):
        build_arith_tokenizer(vocab_size=100)
