"""vLLM path of Nested-ReFT: Qwen2/Qwen3/Llama causal LMs whose decoder layers in S are skipped, and the worker RPC.

GPU path, written against vLLM 0.24 and verl 0.9.1 by reading only (no GPU here). How it is wired:

- The nested vLLM rows set ``actor_rollout_ref.rollout.engine_kwargs.vllm.worker_extension_cls`` to
  :data:`WORKER_EXTENSION`. verl 0.9.1's ``vLLMHttpServer`` spreads ``engine_kwargs.vllm`` after its own
  ``worker_extension_cls`` (``vllm_async_server.py``, the ``args`` dict of ``launch_server``), so vLLM's
  ``WorkerWrapperBase.init_worker`` (``vllm/v1/worker/worker_base.py``) resolves :class:`NestedWorkerExtension` (a
  subclass of verl's ``vLLMColocateWorkerExtension``: weight sync, LoRA, sleep keep working) and mixes it into the
  GPU worker. Resolving it calls :func:`register` in that worker process, before the worker loads the model:
  ``vllm.ModelRegistry.register_model(arch, "module:Class")`` (``vllm/model_executor/models/registry.py``) overrides
  the built-in classes of the three architectures with ``Skippable<Arch>`` (same weights and parameter names). So a
  nested vLLM run works from a plain install: no ``vllm.general_plugins`` entry point, and no other run (nor any
  process that does not load the model) is touched. :func:`check_vllm_rollout_config` refuses a nested vLLM config
  without it.
- The decoder loop of ``Qwen2Model.forward`` / ``LlamaModel.forward`` (``qwen2.py``, ``llama.py``; Qwen3Model
  inherits Qwen2Model): ``for idx, layer in enumerate(islice(self.layers, self.start_layer, self.end_layer)):
  hidden_states, residual = layer(positions, hidden_states, residual[, **extra_layer_kwargs])``. vLLM defers the
  residual add into the next layer's fused RMSNorm, so the stream after layer l is hidden_states + residual; a
  skipped layer returns both unchanged (:class:`SkippedLayer`), which is the residual identity h_{l+1} = h_l.
  Layer 0 (``residual=None``) is never skipped.
- Setting S: the trainer calls verl's ``vLLMHttpServer.collective_rpc(method, args=...)`` on the node-rank-0 server
  of each replica (only that one holds the ``AsyncLLM``) with the method NAME :data:`SET_SKIP_RPC`; vLLM runs
  ``getattr(worker, name)(*args)`` on every TP/PP worker (``vllm/v1/serial_utils.py:run_method``, the multiproc
  executor's ``worker_busy_loop``). A name, not a callable: AsyncLLM ships the RPC to the engine-core process with
  msgpack, which refuses a function unless ``VLLM_ALLOW_INSECURE_SERIALIZATION=1`` (``serial_utils.py``). The model
  is ``worker.model_runner.get_model()`` (``gpu_model_runner.py``; unwraps a CUDA-graph wrapper). After setting S
  the trainer calls verl's ``clear_kv_cache`` (``AsyncLLM.reset_prefix_cache``): prefix-cache blocks computed under
  another S (e.g. the shared chat-template prefix from validation with S = {}) would otherwise be reused.

Graphs: the layers are swapped in Python around each forward, so the model must run without ``torch.compile`` and
without CUDA graphs (``enforce_eager: true``, which vLLM 0.24's ``VllmConfig`` turns into compilation mode NONE and
cudagraph mode NONE, and ``engine_kwargs.vllm.compilation_config.mode: 0``); a compiled or captured graph would
replay the full model (or one fixed pattern). Per-pattern graph capture is not implemented:
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

__all__ = [
    "ARCHITECTURES",
    "SET_SKIP_RPC",
    "WORKER_EXTENSION",
    "SkippedLayer",
    "check_vllm_rollout_config",
    "register",
]

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


# what the nested vLLM rows set as engine_kwargs.vllm.worker_extension_cls, and the worker method the trainer calls
WORKER_EXTENSION = f"{__name__}.NestedWorkerExtension"
SET_SKIP_RPC = "set_nested_skip_layers"
# verl 0.9.1's own extension (vllm_async_server.py, vLLMHttpServer._get_worker_extension_cls), which ours extends
VERL_WORKER_EXTENSION = ("verl.workers.rollout.vllm_rollout.utils", "vLLMColocateWorkerExtension")


class _NestedWorkerMixin:
    """The worker side of the skip RPC. vLLM mixes the extension class into its GPU worker after checking that no
    non-dunder attribute of it clashes with the worker's (``init_worker``), so this defines exactly one method."""

    def set_nested_skip_layers(self, layers: list[int]) -> None:
        """Set S on this worker's model (``collective_rpc(SET_SKIP_RPC, args=(layers,))`` on every TP/PP worker)."""
        runner = self.model_runner  # type: ignore[attr-defined]
        model = runner.get_model() if hasattr(runner, "get_model") else runner.model
        if not hasattr(model, "set_nested_skip"):
            raise RuntimeError(
                f"vLLM loaded {type(model).__name__}, not a skippable model: its architecture is not one of "
                f"{sorted(ARCHITECTURES)} (the classes {WORKER_EXTENSION} registers)"
            )
        model.set_nested_skip(layers)


_CLASSES: dict[str, type] = {}


def __getattr__(name: str) -> type:
    """Classes built on first use, in the process that resolves them (vLLM imports ``module:Class`` lazily):

    - ``Skippable<Arch>``: ``_SkipMixin`` over vLLM's class of ``Arch``;
    - ``NestedWorkerExtension``: ``_NestedWorkerMixin`` over verl's ``vLLMColocateWorkerExtension``; building it
      registers the skippable classes (:func:`register`) in this process: vLLM resolves the extension in
      ``init_worker``, before the worker loads its model.
    """
    import importlib

    if name in _CLASSES:
        return _CLASSES[name]
    if name == "NestedWorkerExtension":
        module, base = VERL_WORKER_EXTENSION
        base_cls = getattr(importlib.import_module(module), base)
        register()
        _CLASSES[name] = type(name, (_NestedWorkerMixin, base_cls), {"__module__": __name__})
        return _CLASSES[name]
    arch = name.removeprefix("Skippable")
    if not name.startswith("Skippable") or arch not in ARCHITECTURES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, base = ARCHITECTURES[arch]
    base_cls = getattr(importlib.import_module(module), base)
    _CLASSES[name] = type(name, (_SkipMixin, base_cls), {"__module__": __name__})
    return _CLASSES[name]


def register() -> None:
    """Register the skippable classes under the stock architecture names in this process's ``vllm.ModelRegistry``
    (lazily, as ``"verl_ext.nested.vllm_plugin:Skippable<Arch>"``). Idempotent."""
    from vllm import ModelRegistry

    for arch in ARCHITECTURES:
        ModelRegistry.register_model(arch, f"{__name__}:Skippable{arch}")
    logger.info("nested: registered skippable %s", ", ".join(ARCHITECTURES))


def check_vllm_rollout_config(rollout: Any) -> None:
    """Refuse a vLLM rollout config under which the layers would not be skipped: without our worker extension (the
    stock classes would be loaded), or with a compiled/captured graph (the full model would be replayed)."""
    engine = (rollout.get("engine_kwargs") or {}).get("vllm") or {}
    ext = engine.get("worker_extension_cls")
    if ext != WORKER_EXTENSION:
        raise ValueError(
            "nested with rollout.name=vllm needs actor_rollout_ref.rollout.engine_kwargs.vllm.worker_extension_cls="
            f"{WORKER_EXTENSION} (it registers the skippable models in the vLLM workers and serves the skip RPC), "
            f"got {ext!r}"
        )
    if not bool(rollout.get("enforce_eager", False)):
        raise ValueError(
            "nested with rollout.name=vllm needs actor_rollout_ref.rollout.enforce_eager=true (CUDA "
            "graphs would replay the full model; per-pattern capture is not implemented)"
        )
    cc = engine.get("compilation_config") or {}
    if isinstance(cc, str):
        import json

        cc = json.loads(cc)
    if cc.get("mode", None) != 0:
        raise ValueError(
            "nested with rollout.name=vllm needs actor_rollout_ref.rollout.engine_kwargs.vllm."
            "compilation_config.mode=0 (no torch.compile: a compiled forward ignores the swapped layers), "
            f"got {cc.get('mode')!r}"
        )
