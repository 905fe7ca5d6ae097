"""Independent recomputation of per-rollout gradient norms for the pilot tests (plain autograd, no pilot code)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch


def manual_norms(model_dir: Path, tokenizer: Any, messages: list, generations: list, strip: bool) -> np.ndarray:
    """‖∇_embed(−Σ log π(response))‖ of every rollout, (P, n), via loss.backward() on embed_tokens.weight."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    emb = model.get_input_embeddings().weight
    out = np.zeros((len(generations), len(generations[0])))
    for p, row in enumerate(generations):
        msgs = [dict(m) for m in messages[p]]
        if strip:
            msgs[-1]["content"] = msgs[-1]["content"].rstrip().removesuffix(".")
        x = tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=False)
        x = list(x["input_ids"] if isinstance(x, dict) else x)
        for j, gen in enumerate(row):
            ids = torch.tensor([x + list(gen.token_ids)])
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
            targets = ids[0, 1:]
            loss = -logp[torch.arange(len(targets)), targets][len(x) - 1 :].sum()
            emb.grad = None
            loss.backward()
            out[p, j] = emb.grad.norm().item()
    return out
