"""Skip decoder layers of a Hugging Face causal LM for real (Nested-ReFT's behaviour model mu_S on the CPU rollout).

Each skipped layer is replaced, for the duration of a ``with skipped_layers(model, S):`` block, by
:class:`IdentityLayer`, which returns its input hidden states: the residual stream passes the layer unchanged
(h_{l+1} = h_l) and none of its attention or MLP is computed, so generation gets faster in proportion to |S|. The
layer keeps its position in the ``ModuleList`` (per-layer attention types and KV-cache slots stay aligned); the
skipped layer writes no KV cache. Layer 0 is never skipped (the cache length is read from it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["IdentityLayer", "decoder_layers", "skipped_layers"]


class IdentityLayer(nn.Module):
    """A decoder layer that is the residual identity: returns the hidden states it receives."""

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return hidden_states


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder ``ModuleList`` of a Llama/Qwen2/Qwen3-style HF model (``model.model.layers``)."""
    base = getattr(model, "base_model", model)
    layers = getattr(base, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise TypeError(
            f"{type(model).__name__}: no decoder ModuleList at base_model.layers; layer skipping needs a "
            "Llama/Qwen2/Qwen3-style model"
        )
    return layers


@contextlib.contextmanager
def skipped_layers(model: nn.Module, skip: Sequence[int]) -> Iterator[None]:
    """Within the block, the layers in ``skip`` are the identity; the original modules are restored after."""
    layers = decoder_layers(model)
    bad = [i for i in skip if not 0 < int(i) < len(layers)]
    if bad:
        raise ValueError(f"cannot skip layers {bad}: valid are 1..{len(layers) - 1} (layer 0 is never skipped)")
    saved = {int(i): layers[int(i)] for i in skip}
    try:
        for i in saved:
            layers[i] = IdentityLayer()
        yield
    finally:
        for i, module in saved.items():
            layers[i] = module
