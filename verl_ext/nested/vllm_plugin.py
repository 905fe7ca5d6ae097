"""vLLM out-of-tree model plugin: Qwen2/Qwen3/Llama causal LMs whose decoder layers in S are skipped (Nested-ReFT).

GPU path, written against vLLM 0.24 and verl 0.9.1 by reading only (no GPU here); checked by reading:

- ``vllm.ModelRegistry.register_model(arch, "module:Class")`` (``vllm/model_executor/models/registry.py``): a lazy
  registration that overrides the built-in class of ``arch``; :func:`register` is the ``vllm.general_plugins`` entry
  point vLLM's ``load_general_plugins()`` (``vllm/plugins/__init__.py``) runs in every engine process. The package
  must declare it (``[project.entry-points."vllm.general_plugins"] nested_reft =
  "verl_ext.nested.vllm_plugin:register"``); without it vLLM keeps its own classes and the skip RPC raises.
- The decoder loop of ``Qwen2Model.forward`` / ``LlamaModel.forward`` (``qwen2.py``, ``llama.py``; Qwen3Model
  inherits Qwen2Model): ``for layer in islice(self.layers, self.start_layer, self.end_layer): hidden_states, residual =
  layer(positions, hidden_states, residual)``. vLLM defers the residual add into the next layer's fused RMSNorm, so
  the stream after layer l is hidden_states + residual; a skipped layer returns both unchanged (:class:`SkippedLayer`),
  which is the residual identity h_{l+1} = h_l. Layer 0 (``residual=None``) is never skipped.
- ``worker.model_runner.model`` (the GPU worker's model, as verl's ``vLLMColocateWorkerExtension`` uses it,
  ``verl/workers/rollout/vllm_rollout/utils.py``) and ``vLLMHttpServer.collective_rpc`` (verl 0.9.1,
  ``vllm_async_server.py``) -> ``AsyncLLM.collective_rpc(method)`` with a callable run as ``method(worker, *args)``:
  :func:`set_skip_layers_on_worker` sets S on every TP/PP worker before the step's generation.

Graphs: the layers are swapped in Python around each forward, so the model must run without ``torch.compile`` and
without CUDA graphs (``enforce_eager: true`` and ``engine_kwargs.vllm.compilation_config.mode: 0``); a compiled or
captured graph would replay the full model (or one fixed pattern). Per-pattern graph capture is not implemented:
:func:`check_vllm_rollout_config` refuses such a config.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

__all__ = ["ARCHITECTURES", "SkippedLayer", "check_vllm_rollout_config", "register", "set_skip_layers_on_worker"]

# architecture -> (vLLM module, base class); our subclass is ``Skippable<base>`` in this module
ARCHITECTURES: dict[str, tuple[str, str]] = {
    "Qwen2ForCausalLM": ("vllm.model_executor.models.qwen2", "Qwen2ForCausalLM"),
    "Qwen3ForCausalLM": ("vllm.model_executor.models.qwen3", "Qwen3ForCausalLM"),
    "LlamaForCausalLM": ("vllm.model_executor.models.llama", "LlamaForCausalLM"),
}


class SkippedLayer(nn.Module):
    """A vLLM decoder layer that is the residual identity: ``(hidden_states, residual)`` pass unchanged."""

    def forward(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        hidden_states = kwargs["hidden_states"] if "hidden_states" in kwargs else args[1]
        residual = kwargs["residual"] if "residual" in kwargs else (args[-1] if len(args) >= 3 else None)
        return hidden_states, residual


@contextlib.contextmanager
def _swapped(layers: nn.ModuleList, skip: Sequence[int]) -> Iterator[None]:
    saved = {i: layers[i] for i in skip}
    try:
        for i in saved:
            layers[i] = SkippedLayer()
        yield
    finally:
        for i, module in saved.items():
            layers[i] = module


class _SkipMixin:
    """Adds ``nested_skip`` (the set S) to a vLLM causal LM; ``forward`` runs with those layers skipped."""

    nested_skip: tuple[int, ...] = ()

    def set_nested_skip(self, layers: Sequence[int]) -> None:
        inner = self.model  # type: ignore[attr-defined]
        n = len(inner.layers)
        bad = [i for i in layers if not 0 < int(i) < n]
        if bad:
            raise ValueError(f"cannot skip layers {bad} of a {n}-layer model (layer 0 is never skipped)")
        self.nested_skip = tuple(sorted(int(i) for i in layers))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if not self.nested_skip:
            return super().forward(*args, **kwargs)  # type: ignore[misc]
        inner = self.model  # type: ignore[attr-defined]
        local = [i for i in self.nested_skip if inner.start_layer <= i < inner.end_layer]  # this PP stage's layers
        with _swapped(inner.layers, local):
            return super().forward(*args, **kwargs)  # type: ignore[misc]


_CLASSES: dict[str, type] = {}


def __getattr__(name: str) -> type:
    """``Skippable<Arch>``, built on first use (vLLM's lazy registry imports ``module:Class`` in the engine)."""
    arch = name.removeprefix("Skippable")
    if not name.startswith("Skippable") or arch not in ARCHITECTURES:
        raise AttributeError(name)
    if name not in _CLASSES:
        import importlib

        module, base = ARCHITECTURES[arch]
        base_cls = getattr(importlib.import_module(module), base)
        _CLASSES[name] = type(name, (_SkipMixin, base_cls), {"__module__": __name__})
    return _CLASSES[name]


def register() -> None:
    """``vllm.general_plugins`` entry point: register the skippable classes under the stock architecture names."""
    from vllm import ModelRegistry

    for arch in ARCHITECTURES:
        ModelRegistry.register_model(arch, f"{__name__}:Skippable{arch}")
    logger.info("nested: registered skippable %s", ", ".join(ARCHITECTURES))


def set_skip_layers_on_worker(worker: Any, layers: list[int]) -> None:
    """Run by ``collective_rpc`` on each vLLM worker: set S on its model (``worker.model_runner.model``)."""
    model = worker.model_runner.model
    if not hasattr(model, "set_nested_skip"):
        raise RuntimeError(
            f"vLLM loaded {type(model).__name__}, not a skippable model: declare the vllm.general_plugins entry point "
            "verl_ext.nested.vllm_plugin:register in the package metadata (see this module's docstring)"
        )
    model.set_nested_skip(layers)


def check_vllm_rollout_config(rollout: Any) -> None:
    """Refuse a vLLM rollout config under which skipping would be replayed from a compiled/captured graph."""
    if not bool(rollout.get("enforce_eager", False)):
        raise ValueError(
            "nested with rollout.name=vllm needs actor_rollout_ref.rollout.enforce_eager=true (CUDA "
            "graphs would replay the full model; per-pattern capture is not implemented)"
        )
    cc = ((rollout.get("engine_kwargs") or {}).get("vllm") or {}).get("compilation_config") or {}
    if isinstance(cc, str):
        import json

        cc = json.loads(cc)
    if cc.get("mode", None) != 0:
        raise ValueError(
            "nested with rollout.name=vllm needs actor_rollout_ref.rollout.engine_kwargs.vllm."
            "compilation_config.mode=0 (no torch.compile: a compiled forward ignores the swapped layers), "
            f"got {cc.get('mode')!r}"
        )
