"""Per-sequence gradient norms for the GVM / CurES pilots (specs/baselines.md §6, specs/cures.md §5).

G(x, y) = ‖∇_W (−Σ_t log π(y_t | x, y_<t))‖₂ with W the parameters whose names contain ``embed_tokens`` (the
input embedding; tied to the LM head in Qwen2.5-Math-1.5B, so the tied gradient includes both uses), one
sequence at a time (batch 1). Torch only: no verl import.
"""

from __future__ import annotations

import torch

__all__ = ["per_sequence_grad_norm"]


def per_sequence_grad_norm(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    response_mask: torch.Tensor,
    param_name_substring: str = "embed_tokens",
    attention_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """‖∇_W(−Σ_t log π(y_t|x, y_<t))‖₂ for each sequence, computed with batch 1.

    Args:
        model: a causal LM returning ``.logits`` of shape ``(1, L, V)``.
        input_ids: prompt + response token ids, shape ``(B, L)``.
        response_mask: 1 on response tokens y_t (the summed log-probabilities), 0 on prompt and padding,
            shape ``(B, L)``. Position 0 is never a target (nothing predicts it).
        param_name_substring: selects W among ``model.named_parameters()``.
        attention_mask: optional ``(B, L)`` mask passed to the model (default: all ones).

    Returns:
        float32 tensor of shape ``(B,)``. Parameter ``.grad`` fields are left untouched.
    """
    if input_ids.ndim != 2 or response_mask.shape != input_ids.shape:
        raise ValueError(
            f"input_ids and response_mask must both be (B, L), got {tuple(input_ids.shape)} and "
            f"{tuple(response_mask.shape)}"
        )
    params = [p for name, p in model.named_parameters() if param_name_substring in name]
    if not params:
        raise ValueError(
            f"no parameter name contains {param_name_substring!r}; pick one of e.g. "
            f"{[name for name, _ in model.named_parameters()][:5]}"
        )
    norms = []
    for b in range(input_ids.shape[0]):
        ids = input_ids[b : b + 1]
        mask = None if attention_mask is None else attention_mask[b : b + 1]
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        # logits at position t-1 predict token t
        logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
        loss = -(logp * response_mask[b : b + 1, 1:].to(logp.dtype)).sum()
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        sq = sum((g.float() ** 2).sum() for g in grads if g is not None)
        norms.append(torch.sqrt(torch.as_tensor(sq, dtype=torch.float32)))
    return torch.stack(norms)
