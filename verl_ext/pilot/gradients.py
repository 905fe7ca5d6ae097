"""Per-rollout gradient norms of sampled responses on a Hugging Face model (GVM pilot and CurES stage 0).

G(x, y) = ‖∇_W(−Σ_t log π(y_t | x, y_<t))‖₂, W = parameters named ``embed_tokens``, batch 1
(``verl_ext.curriculum.gradnorm.per_sequence_grad_norm``). The prompt ids are rendered exactly as the backend
rendered them for sampling; the response ids are the sampled ids including the stop token (what training scores).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from verl_ext.eval.backends import Generation, Messages, render_prompt

logger = logging.getLogger(__name__)

__all__ = ["load_policy", "prompt_ids", "rollout_grad_norms"]


def load_policy(model_path: str, dtype: str = "float32", device: str | None = None) -> Any:
    """An HF causal LM in eval mode on ``device`` (default: cuda if available, else cpu)."""
    import torch
    from transformers import AutoModelForCausalLM

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype)).to(device).eval()


def prompt_ids(tokenizer: Any, messages: Messages, strip_final_period: bool = False) -> list[int]:
    """Prompt token ids as the eval backends feed them to the sampler (chat template, generation prompt)."""
    text = render_prompt(tokenizer, messages, strip_final_period)
    return list(tokenizer.encode(text, add_special_tokens=False))


def rollout_grad_norms(
    model: Any,
    tokenizer: Any,
    messages: Sequence[Messages],
    generations: Sequence[Sequence[Generation]],
    select: np.ndarray | None = None,
    strip_final_period: bool = False,
    param_name_substring: str = "embed_tokens",
) -> np.ndarray:
    """‖∇_W(−Σ_t log π(y_t|x, y_<t))‖₂ of every selected rollout, one sequence at a time.

    Args:
        model, tokenizer: the policy the responses were sampled from.
        messages: P prompts (chat messages). generations: (P, n) sampled responses with ``token_ids``.
        select: optional bool (P, n); unselected rollouts are skipped and get NaN (GVM needs correct ones only).

    Returns:
        float64 array (P, n).
    """
    import torch

    from verl_ext.curriculum.gradnorm import per_sequence_grad_norm

    n = len(generations[0]) if generations else 0
    out = np.full((len(generations), n), np.nan)
    mask = np.ones(out.shape, dtype=bool) if select is None else np.asarray(select, dtype=bool)
    if mask.shape != out.shape:
        raise ValueError(f"select must have shape {out.shape} (prompts × responses), got {mask.shape}")
    device = next(model.parameters()).device
    for p, row in enumerate(generations):
        if not mask[p].any():
            continue
        ids_x = prompt_ids(tokenizer, messages[p], strip_final_period)
        for j, gen in enumerate(row):
            if not mask[p, j]:
                continue
            if not gen.token_ids:
                raise ValueError(f"prompt {p} response {j} has no token_ids; use the hf or vllm backend")
            ids = torch.tensor([ids_x + list(gen.token_ids)], device=device)
            resp = torch.zeros_like(ids)
            resp[:, len(ids_x) :] = 1
            out[p, j] = float(per_sequence_grad_norm(model, ids, resp, param_name_substring)[0])
        logger.debug("grad norms of prompt %d: %s", p, out[p])
    return out
