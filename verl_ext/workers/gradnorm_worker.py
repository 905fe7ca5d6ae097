"""Per-trajectory LM-head gradient norms on verl's actor workers, for CurES ``sigma: gradnorm`` (Eq. 21).

Runs through verl 0.9.1's generic ``Worker.execute_with_func_generator`` (dispatch ``DP_COMPUTE_PROTO_WITH_FUNC``:
the batch is split evenly over the worker group, :func:`lm_head_gradnorm_on_worker` runs on every rank with that
rank's ``ActorRolloutRefWorker`` as first argument, the outputs are concatenated in rank order). No verl method is
copied and no optimizer state is touched: each rank runs forward passes only, at the actor's current (pre-update)
weights, inside the engine's own ``eval_mode`` (which loads offloaded parameters), and
:func:`verl_ext.curriculum.gradnorm.lm_head_grad_norm` turns the head's input and the logits into ‖∇_W(−Σ log π)‖.
Forward passes only also keep FSDP correct with several ranks: every rank gets the same number of sequences
(:func:`build_gradnorm_batch` pads), and no gradient is reduced across ranks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tensordict import TensorDict

from verl_ext.curriculum.gradnorm import lm_head_grad_norm

__all__ = ["build_gradnorm_batch", "lm_head_gradnorm_on_worker", "unwrap_model"]


def build_gradnorm_batch(
    prompts: Sequence[torch.Tensor],
    responses: Sequence[torch.Tensor],
    response_masks: Sequence[torch.Tensor],
    world_size: int,
    temperature: float,
) -> TensorDict:
    """A dense batch of trajectories, padded to a multiple of ``world_size`` rows (extra rows have ``valid = 0``).

    Fields (B rows): ``input_ids`` (B, L) prompt + response, right-padded with 0; ``prompt_len``, ``seq_len`` (B,);
    ``response_mask`` (B, L) aligned with ``input_ids`` (1 on trained response tokens); ``temperature`` (B,);
    ``valid`` (B,).
    """
    if not (len(prompts) == len(responses) == len(response_masks)) or not prompts:
        raise ValueError("need one prompt, response and response_mask per trajectory (and at least one trajectory)")
    rows = len(prompts)
    padded = -(-rows // world_size) * world_size
    lengths = [int(p.numel()) + int(r.numel()) for p, r in zip(prompts, responses, strict=True)]
    width = max(lengths)
    ids = torch.zeros(padded, width, dtype=torch.int64)
    mask = torch.zeros(padded, width, dtype=torch.float32)
    prompt_len = torch.zeros(padded, dtype=torch.int64)
    seq_len = torch.zeros(padded, dtype=torch.int64)
    for j in range(padded):
        src = j if j < rows else 0
        p, r, m = prompts[src].reshape(-1), responses[src].reshape(-1), response_masks[src].reshape(-1)
        if m.numel() != r.numel():
            raise ValueError(f"trajectory {src}: response_mask has {m.numel()} entries for {r.numel()} response tokens")
        ids[j, : p.numel()] = p
        ids[j, p.numel() : lengths[src]] = r
        mask[j, p.numel() : lengths[src]] = m.float()
        prompt_len[j], seq_len[j] = p.numel(), lengths[src]
    valid = (torch.arange(padded) < rows).to(torch.int64)
    temp = torch.full((padded,), float(temperature))
    fields = {"input_ids": ids, "response_mask": mask, "prompt_len": prompt_len, "seq_len": seq_len,
              "valid": valid, "temperature": temp}  # fmt: skip
    return TensorDict(fields, batch_size=[padded])


def unwrap_model(module: torch.nn.Module) -> torch.nn.Module:
    """The Hugging Face model inside FSDP1's wrapper (FSDP2 and plain modules are returned as they are)."""
    while isinstance(getattr(module, "module", None), torch.nn.Module):
        module = module.module
    return module


def _norms(module: torch.nn.Module, data: TensorDict) -> torch.Tensor:
    """Forward each trajectory through ``module`` (batch 1, no padding) and return its LM-head gradient norm."""
    model = unwrap_model(module)
    head = model.get_output_embeddings()
    if head is None:
        raise ValueError(f"{type(model).__name__} has no output embedding (get_output_embeddings() is None)")
    device = next(head.parameters()).device
    captured: dict[str, torch.Tensor] = {}
    hook = head.register_forward_pre_hook(lambda _m, args: captured.__setitem__("h", args[0]))
    out = torch.zeros(data.batch_size[0], dtype=torch.float32)
    try:
        for b in range(data.batch_size[0]):
            length, start = int(data["seq_len"][b]), int(data["prompt_len"][b])
            ids = data["input_ids"][b, :length].to(device)[None]
            logits = module(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                position_ids=torch.arange(length, device=device)[None],
                use_cache=False,
            ).logits[0]
            hidden = captured["h"][0]
            # position t-1 predicts token t: response tokens start..length-1 are predicted by start-1..length-2
            out[b] = lm_head_grad_norm(
                hidden[start - 1 : length - 1],
                logits[start - 1 : length - 1],
                ids[0, start:length],
                data["response_mask"][b, start:length].to(device),
                temperature=float(data["temperature"][b]),
            ).cpu()
    finally:
        hook.remove()
    return out


def lm_head_gradnorm_on_worker(worker: Any, data: Any) -> TensorDict:
    """``execute_with_func_generator`` target: this rank's rows of ``data`` → TensorDict ``{"gradnorm": (b,)}``.

    ``data`` is a ``DataProto`` chunk (the caller wraps the batch of :func:`build_gradnorm_batch` in one: verl 0.9.1
    splits a bare TensorDict into a tuple, which its worker group then broadcasts whole instead of scattering) or a
    TensorDict.

    ``worker`` is verl's ``ActorRolloutRefWorker`` (its ``actor`` is a ``TrainingWorker`` whose ``engine`` holds the
    FSDP module). Read-only: gradients are never formed by autograd, the optimizer is untouched.
    """
    actor = getattr(worker, "actor", None)
    if actor is None or getattr(actor, "engine", None) is None:
        raise RuntimeError(f"{type(worker).__name__} has no initialised actor engine (worker.actor.engine)")
    engine = actor.engine
    data = getattr(data, "batch", data) if not isinstance(data, TensorDict) else data
    with engine.eval_mode(), torch.no_grad():
        norms = _norms(engine.module, data)
    return TensorDict({"gradnorm": norms}, batch_size=[data.batch_size[0]])


def split_norms(norms: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    """Split a flat array of per-trajectory norms into consecutive groups of the given sizes."""
    bounds = np.cumsum([0, *sizes])
    if bounds[-1] > norms.size:
        raise ValueError(f"{norms.size} norms for {bounds[-1]} trajectories")
    return [norms[bounds[i] : bounds[i + 1]] for i in range(len(sizes))]
