"""PCL's value loss in verl's engine loss contract (docs/pcl.md §3, Eq. 2 divided by m).

verl's FSDP engine (``workers/engine/fsdp/transformer_impl.py`` ``forward_backward_batch``) calls
``fn(model_output, data, dp_group) -> (loss, metrics)`` once per micro-batch, back-propagates each micro-batch loss
(gradients accumulate, i.e. micro-batch losses are summed) and lets FSDP average gradients over the dp ranks. Before
splitting it stores ``batch_num_tokens`` = Σ ``loss_mask`` over the whole mini-batch on all dp ranks and ``dp_size``.

The value batches built by :mod:`verl_ext.workers.value_worker` carry a ``loss_mask`` that is 1 only at the last
prompt token of each real prompt (0 on every other token and on dp-padding rows), so ``batch_num_tokens`` is exactly
the number m of real prompts in the global mini-batch. A micro-batch's loss

    ℓ = dp_size · Σ_{i ∈ micro-batch} w_i (f(V_i) − ȳ_i)² / m

then sums over micro-batches and averages over ranks to L = (1/m) Σ_i (f(V_i) − ȳ_i)², the spec's value loss, for
any micro-batch or dp split (the same normalisation as verl's ``value_loss`` in ``workers/utils/losses.py``).
"""

from __future__ import annotations

from typing import Any

import torch
from tensordict import TensorDict

__all__ = ["HEAD_ACTIVATIONS", "TARGET_KEY", "apply_head_activation", "last_token_values", "pcl_value_loss"]

# Tensor field holding ȳ (float, shape (bsz,)) in a training batch.
TARGET_KEY = "pcl_target"
HEAD_ACTIVATIONS = ("none", "sigmoid")


def apply_head_activation(values: torch.Tensor, head_activation: str) -> torch.Tensor:
    """The value model's prediction from the raw head output: identity (``none``) or ``sigmoid``."""
    if head_activation == "none":
        return values
    if head_activation == "sigmoid":
        return torch.sigmoid(values)
    raise ValueError(f"head_activation={head_activation!r} is not supported; valid: {', '.join(HEAD_ACTIVATIONS)}")


def last_token_values(values: torch.Tensor) -> torch.Tensor:
    """Per-row value at the last token of a jagged nested tensor ``(bsz, j)`` → dense ``(bsz,)``.

    The value model reads only the prompt, so the last token is the last prompt token (docs/pcl.md §3).
    """
    if not getattr(values, "is_nested", False):
        raise TypeError("expected a jagged nested tensor of per-token values (verl's value-model output)")
    offsets = values.offsets()
    if bool((offsets.diff() < 1).any()):
        raise ValueError("a row of the value batch has no tokens; every prompt needs at least one token")
    return values.values()[offsets[1:] - 1]


def pcl_value_loss(
    model_output: dict[str, Any], data: TensorDict, dp_group: Any = None, head_activation: str = "none"
) -> tuple[torch.Tensor, dict[str, Any]]:
    """One micro-batch's share of the PCL value MSE (see module docstring for the normalisation).

    Args:
        model_output: verl's value-engine output; ``values`` is nested ``(bsz, j)`` (one value per token).
        data: the micro-batch: nested ``loss_mask`` ``(bsz, j)`` (1 at the last token of real rows), dense
            ``pcl_target`` ``(bsz,)``, and the engine's non-tensor ``dp_size`` and ``batch_num_tokens``.
        dp_group: unused (the engine passes it; the normalisation already uses the global token count).
        head_activation: ``none`` (raw head output) or ``sigmoid`` (the loss uses the sigmoid output).

    Returns:
        ``(loss, metrics)``: the scalar fp32 loss to back-propagate and an empty metrics dict (the engine reports the
        summed loss itself as ``loss``, plus ``grad_norm``).
    """
    del dp_group
    # fp32 throughout: the engine calls the loss under bf16 autocast (mixed precision), where a bf16 prediction is
    # quantised to 2^-8 ≈ 0.004 near τ = 0.5; elementwise ops keep the dtype of their inputs under autocast
    pred = apply_head_activation(last_token_values(model_output["values"]).float(), head_activation)
    weight = last_token_values(data["loss_mask"]).to(torch.float32)
    target = data[TARGET_KEY].to(device=pred.device, dtype=torch.float32).reshape(-1)
    if target.shape != pred.shape:
        raise ValueError(f"{TARGET_KEY} has shape {tuple(target.shape)} but the micro-batch has {pred.shape[0]} rows")
    dp_size = int(data["dp_size"]) if "dp_size" in data.keys() else 1
    num = data["batch_num_tokens"] if "batch_num_tokens" in data.keys() else None
    num_prompts = float(num) if num is not None else float(weight.sum())
    if num_prompts <= 0:
        raise ValueError("the value mini-batch has no real prompts (loss_mask is all zero)")
    loss = (weight * (pred - target) ** 2).sum() / num_prompts * dp_size
    return loss, {}
