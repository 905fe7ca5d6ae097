"""A ``cpu`` platform for verl 0.9.1's platform registry (``verl/plugin/platform``).

verl resolves every device question (device name, torch device module, collective backend, Ray resource) through
``get_platform()``. Registering this class under ``cpu`` and exporting ``VERL_PLATFORM=cpu`` makes verl's FSDP2
engine, worker groups and checkpoint code run on the host with the ``gloo`` backend.

Two choices are deliberate:
- ``current_device()`` returns ``"cpu"``, not ``0``: verl passes it to ``tensor.to(...)`` / ``torch.device(...)``,
  where ``0`` would mean ``cuda:0``.
- ``ray_resource_name()`` is ``"GPU"``: verl's resource pools reserve bundles of ``{"CPU": k, "GPU": 1}`` per rank;
  the profile gives Ray one *logical* GPU (``ray_init.num_gpus=1``) so those bundles can be placed. Nothing ever
  touches CUDA: torch is the CPU build and every tensor lives on the host.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from types import ModuleType, SimpleNamespace
from typing import Any

import torch
from verl.plugin.platform import PlatformBase

logger = logging.getLogger(__name__)

PLATFORM_NAME = "cpu"


def _noop(*args: Any, **kwargs: Any) -> None:
    """Memory and allocator calls have nothing to do on the host."""
    return None


def _zero(*args: Any, **kwargs: Any) -> int:
    return 0


def _mem_get_info(*args: Any, **kwargs: Any) -> tuple[int, int]:
    """(free, total) bytes of host memory, what verl's memory logs expect from ``torch.cuda.mem_get_info``."""
    import psutil

    vm = psutil.virtual_memory()
    return int(vm.available), int(vm.total)


def build_device_module() -> ModuleType:
    """A ``torch.cuda``-shaped namespace for the host: ``torch.cpu``'s streams/events plus no-op memory calls.

    verl calls (0.9.1, grep ``get_torch_device()``): empty_cache, synchronize, is_available, current_stream, stream,
    Stream, Event, set_device, device_count, mem_get_info, memory_allocated/reserved (+max_), get_rng_state,
    set_rng_state, set_per_process_memory_fraction, ipc_collect, get_device_name, manual_seed(_all).
    """
    cpu = torch.cpu
    module = SimpleNamespace(
        # torch.cpu provides these with the right shapes (its Stream/Event are no-op host objects)
        is_available=lambda: True,
        device_count=lambda: 1,
        current_device=lambda: PLATFORM_NAME,
        set_device=_noop,
        synchronize=_noop,
        current_stream=cpu.current_stream,
        stream=cpu.stream,
        Stream=cpu.Stream,
        Event=cpu.Event,
        # memory: nothing is cached on a device, so nothing to free or count
        empty_cache=_noop,
        ipc_collect=_noop,
        set_per_process_memory_fraction=_noop,
        reset_peak_memory_stats=_noop,
        memory_allocated=_zero,
        memory_reserved=_zero,
        max_memory_allocated=_zero,
        max_memory_reserved=_zero,
        mem_get_info=_mem_get_info,
        # RNG: the host generator is the only one (verl's checkpoint manager also saves it under "cpu")
        get_rng_state=lambda *a, **k: torch.get_rng_state(),
        set_rng_state=lambda state, *a, **k: torch.set_rng_state(state),
        manual_seed=lambda seed: torch.manual_seed(seed),
        manual_seed_all=lambda seed: torch.manual_seed(seed),
        get_device_name=lambda *a, **k: "cpu",
        nvtx=SimpleNamespace(range=lambda msg: nullcontext()),
    )
    return module  # type: ignore[return-value]


class PlatformCPU(PlatformBase):
    """verl platform for CPU-only hosts: device ``cpu``, backend ``gloo``, no-op device memory management."""

    def __init__(self) -> None:
        self._device_module = build_device_module()

    @property
    def device_name(self) -> str:
        return PLATFORM_NAME

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> ModuleType:
        return self._device_module

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        # Never auto-detected: the CPU platform is chosen only by VERL_PLATFORM=cpu.
        return False

    def current_device(self) -> str:  # type: ignore[override]
        return PLATFORM_NAME

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: int | None = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        # Ray sets it on actors holding the logical GPU; torch (CPU build) ignores it.
        return "CUDA_VISIBLE_DEVICES"

    @contextmanager
    def nvtx_range(self, msg: str) -> Iterator[None]:
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        return "GPU"

    def ray_noset_envvars(self) -> list[str]:
        return []

    def is_ipc_supported(self) -> bool:
        return False

    def cudart(self) -> Any:
        return None
