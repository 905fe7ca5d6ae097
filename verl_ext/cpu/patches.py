"""The three patches verl 0.9.1 needs on a CPU-only host. Each is applied only by ``activate()`` (VERL_PLATFORM=cpu).

Every patch names the verl code it was written against; ``tests/cpu/test_patches_on_cpu.py`` re-reads that code
(``inspect.getsource`` / ``inspect.signature``) and fails when verl changes under it.

1. ``gloo_only_backend``: ``verl/utils/distributed.py:89`` builds ``f"cpu:gloo,{device}:{backend}"`` which, with
   device ``cpu`` and backend ``gloo``, is ``"cpu:gloo,cpu:gloo"``; torch rejects it ("Duplicate device type cpu").
   We change the function's *default* ``backend`` argument to ``"cpu:gloo"`` (in place, so every module that
   imported the function by name sees it) -- callers passing an explicit backend are unaffected.
2. ``unpinned_cpu_offload``: ``verl/workers/engine/fsdp/transformer_impl.py:462`` builds
   ``CPUOffloadPolicy(pin_memory=True)`` for the FSDP2 reference model; pinning needs an accelerator ("Cannot
   access accelerator device when none is available"). We swap the ``CPUOffloadPolicy`` name that module imports
   (from ``verl.utils.fsdp_utils``) for a subclass that never pins.
3. ``valuehead_attention``: ``verl/utils/model.py:641 load_valuehead_model`` hard-codes
   ``attn_implementation="flash_attention_2"`` (lines 649, 674), which needs CUDA. Value models (verl's critic,
   PCL's prompt-value worker) load with the attention the model config asks for (``override_config.
   attn_implementation``, default ``sdpa``) instead.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

logger = logging.getLogger(__name__)

CPU_BACKEND = "cpu:gloo"
_ORIGINALS: dict[str, Any] = {}


def gloo_only_backend() -> None:
    """Make ``initialize_global_process_group_ray`` default to ``cpu:gloo`` (patch 1, see module docstring)."""
    from verl.utils import distributed

    fn = distributed.initialize_global_process_group_ray
    _ORIGINALS.setdefault("pg_defaults", fn.__defaults__)
    # signature (timeout_second=None, backend=None): only the backend default changes
    fn.__defaults__ = (None, CPU_BACKEND)


def _unpinned_policy_class() -> type:
    from verl.utils.fsdp_utils import CPUOffloadPolicy

    if getattr(CPUOffloadPolicy, "_verl_ext_unpinned", False):
        return CPUOffloadPolicy

    class UnpinnedCPUOffloadPolicy(CPUOffloadPolicy):  # type: ignore[misc, valid-type]
        """FSDP2 CPU offload without pinned host buffers (pinning needs an accelerator)."""

        _verl_ext_unpinned = True

        def __init__(self, pin_memory: bool = False) -> None:
            super().__init__(pin_memory=False)

    return UnpinnedCPUOffloadPolicy


def unpinned_cpu_offload() -> None:
    """Swap ``CPUOffloadPolicy`` for a never-pinning subclass where the FSDP engine reads it (patch 2)."""
    from verl.utils import fsdp_utils

    policy = _unpinned_policy_class()
    _ORIGINALS.setdefault("fsdp_utils.CPUOffloadPolicy", fsdp_utils.CPUOffloadPolicy)
    # transformer_impl does `from verl.utils.fsdp_utils import CPUOffloadPolicy` when it is first imported: patch
    # the source for later imports and the module itself if some process imported it already.
    fsdp_utils.CPUOffloadPolicy = policy
    impl = sys.modules.get("verl.workers.engine.fsdp.transformer_impl")
    if impl is not None:
        impl.CPUOffloadPolicy = policy


def _load_valuehead_model_cpu(local_path: str, torch_dtype: Any, model_config: Any, trust_remote_code: bool) -> Any:
    """``load_valuehead_model`` with the config's attention implementation instead of flash-attention 2.

    Same first path as verl (a token-classification head with ``num_labels=1``, set by the FSDP engine); verl's trl
    fallback is kept by delegating to the original for models without such a head.
    """
    from transformers import AutoModelForTokenClassification

    attn = getattr(model_config, "_attn_implementation", None) or "sdpa"
    if attn == "flash_attention_2":
        attn = "sdpa"
    try:
        return AutoModelForTokenClassification.from_pretrained(
            pretrained_model_name_or_path=local_path,
            torch_dtype=torch_dtype,
            config=model_config,
            attn_implementation=attn,
            trust_remote_code=trust_remote_code,
        )
    except ValueError:
        logger.warning("%s has no token-classification head; falling back to verl's loader", local_path)
        return _ORIGINALS["load_valuehead_model"](local_path, torch_dtype, model_config, trust_remote_code)


def valuehead_attention() -> None:
    """Replace ``verl.utils.model.load_valuehead_model`` (imported at call time by the FSDP engine) (patch 3)."""
    from verl.utils import model

    if model.load_valuehead_model is not _load_valuehead_model_cpu:
        _ORIGINALS.setdefault("load_valuehead_model", model.load_valuehead_model)
        model.load_valuehead_model = _load_valuehead_model_cpu


def apply_all() -> None:
    """Apply the three patches (idempotent)."""
    gloo_only_backend()
    unpinned_cpu_offload()
    valuehead_attention()
    logger.info("verl_ext.cpu: patches applied (gloo backend, unpinned FSDP2 offload, value-model attention)")
