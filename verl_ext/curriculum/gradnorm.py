"""Per-sequence gradient norms for the GVM / CurES pilots and CurES Eq. 21 (docs/cures.md "gradnorm").

G(x, y) = ‖∇_W (−Σ_t log π(y_t | x, y_<t))‖₂ with W the parameters whose names contain ``embed_tokens`` (the
input embedding; tied to the LM head in Qwen2.5-Math-1.5B, so the tied gradient includes both uses), one
sequence at a time (batch 1). Torch only: no verl import.
"""

from __future__ import annotations

import torch

__all__ = ["lm_head_grad_norm", "per_sequence_grad_norm"]


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


def lm_head_grad_norm(
    hidden: torch.Tensor,
    logits: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor | None = None,
    temperature: float = 1.0,
    vocab_chunk: int = 16384,
) -> torch.Tensor:
    """‖∇_W(−Σ_t w_t log π(y_t))‖_F for the output projection W (logits z_t = W h_t + b), from one forward pass.

    With π_t = softmax(z_t/T): ∇_W = (1/T) Σ_t w_t (π_t − e_{y_t}) h_tᵀ, so no backward pass is needed — the
    per-trajectory norm of CurES Eq. 21 restricted to the LM head (docs/cures.md "gradnorm"). Only the head's
    output use is measured: for a tied embedding the gradient through the input embedding is not included.

    Args:
        hidden: h_t, the inputs of the output projection at the predicting positions, shape ``(R, H)``.
        logits: z_t at the same positions, shape ``(R, V)``.
        targets: y_t, the predicted token ids, shape ``(R,)``.
        weights: w_t (1 on response tokens, 0 elsewhere), shape ``(R,)``; default all ones.
        temperature: T of the sampling distribution (the rollout temperature).
        vocab_chunk: vocabulary rows of ∇_W formed at a time (memory ``vocab_chunk × H`` floats).

    Returns:
        A float32 scalar tensor.
    """
    if hidden.ndim != 2 or logits.ndim != 2 or hidden.shape[0] != logits.shape[0] or targets.shape != hidden.shape[:1]:
        raise ValueError(
            f"need hidden (R, H), logits (R, V), targets (R,); got {tuple(hidden.shape)}, {tuple(logits.shape)}, "
            f"{tuple(targets.shape)}"
        )
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    w = torch.ones(hidden.shape[0], device=hidden.device) if weights is None else weights.to(hidden.device).float()
    h = hidden.float() * w[:, None]
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    probs[torch.arange(targets.shape[0], device=probs.device), targets] -= 1.0  # π_t − e_{y_t}
    total = torch.zeros((), dtype=torch.float64, device=hidden.device)
    for start in range(0, probs.shape[1], vocab_chunk):
        grad = probs[:, start : start + vocab_chunk].T @ h  # (chunk, H) rows of ∇_W·T
        total += (grad.double() ** 2).sum()
    return (torch.sqrt(total) / temperature).float()
