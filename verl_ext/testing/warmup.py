"""Supervised warm-up of a tiny policy on the synthetic arithmetic task, and its sampled accuracy per prompt.

RL needs reward variance: a random tiny model never writes ``\\boxed{<right answer>}``, so every GRPO group would have
zero advantage. A short SFT on ``prompt -> "\\boxed{answer}<|im_end|>"`` gives a policy that solves easy levels
often and hard levels rarely (measured by ``sampled_accuracy`` at temperature 1, the rollout setting).
"""

from __future__ import annotations

import logging
import math
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def boxed_int(text: str) -> int | None:
    """The integer in the last ``\\boxed{...}`` of ``text`` (None when absent or not an integer)."""
    found = _BOXED.findall(text)
    if not found:
        return None
    try:
        return int(found[-1].strip().replace(",", ""))
    except ValueError:
        return None


def _prompt_ids(tokenizer: Any, row: dict[str, Any]) -> list[int]:
    text = tokenizer.apply_chat_template(list(row["prompt"]), add_generation_prompt=True, tokenize=False)
    return tokenizer.encode(text, add_special_tokens=False)


def sft_example(tokenizer: Any, row: dict[str, Any]) -> tuple[list[int], list[bool]]:
    """Token ids of chat prompt + ``\\boxed{gt}<|im_end|>`` and the mask of target positions (the loss terms)."""
    prompt = _prompt_ids(tokenizer, row)
    target = tokenizer.encode(f"\\boxed{{{row['reward_model']['ground_truth']}}}", add_special_tokens=False)
    target = target + [tokenizer.eos_token_id]
    return prompt + target, [False] * len(prompt) + [True] * len(target)


def sft_batch(examples: Sequence[tuple[list[int], list[bool]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``/``attention_mask``/``labels`` [B, T] from ``sft_example`` outputs (-100 = no loss)."""
    seqs = [seq for seq, _ in examples]
    masks = [mask for _, mask in examples]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(seqs), width), dtype=torch.long)
    labels = torch.full((len(seqs), width), -100, dtype=torch.long)
    for i, (seq, mask) in enumerate(zip(seqs, masks)):
        ids[i, : len(seq)] = torch.tensor(seq)
        attn[i, : len(seq)] = 1
        labels[i, : len(seq)] = torch.where(torch.tensor(mask), torch.tensor(seq), torch.tensor(-100))
    return {"input_ids": ids, "attention_mask": attn, "labels": labels}


def _lr_at(step: int, steps: int, lr: float) -> float:
    """Linear warm-up over the first 5 % of steps, then cosine decay to 10 % of ``lr``."""
    warm = max(1, steps // 20)
    if step < warm:
        return lr * (step + 1) / warm
    progress = (step - warm) / max(1, steps - warm)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _train(model: Any, examples: list, pad_id: int, steps: int, lr: float, batch_size: int, gen: Any) -> None:
    """The SFT loop: AdamW, gradient clipping at 1.0, ``_lr_at`` schedule, uniform minibatches."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, steps, lr)
        picks = torch.randint(len(examples), (batch_size,), generator=gen).tolist()
        loss = model(**sft_batch([examples[i] for i in picks], pad_id)).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 200 == 0 or step == steps - 1:
            logger.info("warmup step %d/%d loss %.4f", step + 1, steps, loss.item())


def warmup_sft(
    model_dir: str | Path,
    tokenizer_dir: str | Path,
    train_rows: Sequence[dict[str, Any]],
    out_dir: str | Path,
    steps: int,
    lr: float,
    seed: int,
    batch_size: int = 64,
    num_threads: int | None = 1,
) -> Path:
    """Fine-tune the causal LM in ``model_dir`` on ``train_rows`` (AdamW, CPU) and save it with the tokenizer.

    Each step draws ``batch_size`` rows uniformly (seeded); the loss is the mean token cross-entropy of the target
    ``\\boxed{ground_truth}<|im_end|>`` given the chat-templated prompt. Returns ``out_dir``.
    ``num_threads`` (default 1) caps torch's intra-op threads during training: for a model this small, extra
    threads mostly spin, and on a shared 2-core machine 2 threads measured 10x slower per step than 1.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not train_rows:
        raise ValueError("train_rows is empty: pass contract rows (e.g. verl_ext.data.synthetic.generate_splits)")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True, dtype=torch.float32)
    examples = [sft_example(tokenizer, row) for row in train_rows]
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(num_threads or previous_threads)
    try:
        _train(model, examples, tokenizer.pad_token_id, steps, lr, batch_size, gen)
    finally:
        torch.set_num_threads(previous_threads)
    out = Path(out_dir)
    model.save_pretrained(str(out), safe_serialization=True)
    for name in _TOKENIZER_FILES:
        if (Path(tokenizer_dir) / name).is_file():
            shutil.copy2(Path(tokenizer_dir) / name, out / name)
    return out


@torch.no_grad()
def sampled_accuracy(
    model: Any,
    tokenizer: Any,
    rows: Sequence[dict[str, Any]],
    k: int = 4,
    temperature: float = 1.0,
    max_new_tokens: int = 12,
    seed: int = 0,
    batch_size: int = 256,
) -> torch.Tensor:
    """Per-row success rate [len(rows)] over ``k`` samples at ``temperature`` (pure sampling: no top-k / top-p).

    Success = the last ``\\boxed{}`` of the completion holds the integer ground truth.
    """
    model.eval()
    torch.manual_seed(seed)
    prompts = [_prompt_ids(tokenizer, row) for row in rows for _ in range(k)]
    truths = [int(row["reward_model"]["ground_truth"]) for row in rows for _ in range(k)]
    hits = torch.zeros(len(prompts))
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        width = max(len(p) for p in chunk)
        ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(p)) + p for p in chunk])  # left padding
        attn = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk])
        out = model.generate(input_ids=ids, attention_mask=attn, do_sample=True, temperature=temperature, top_k=0,
                             top_p=1.0, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=tokenizer.eos_token_id)  # fmt: skip
        texts = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
        for j, text in enumerate(texts):
            hits[start + j] = float(boxed_int(text) == truths[start + j])
    return hits.view(len(rows), k).mean(dim=1)
