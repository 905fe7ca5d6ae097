"""verl plugin entry point of the CPU backend (``[project.entry-points."verl.plugins"] verl_ext_cpu``).

verl 0.9.1 imports this module in every process that imports ``verl`` -- through the entry point (import errors
swallowed, ``verl/__init__.py:64-75``) and, when listed, through ``VERL_USE_EXTERNAL_MODULES`` (errors raise,
``verl/__init__.py:49-52``); the ``+platform=cpu`` profile sets both ``VERL_PLATFORM=cpu`` and
``VERL_USE_EXTERNAL_MODULES=verl_ext.cpu.plugin`` for the driver and every Ray worker.

Importing it changes nothing unless ``VERL_PLATFORM=cpu``: GPU runs never see the platform, the ``hf`` rollout or
the patches. When asked for, it refuses any verl other than 0.9.1 (the patches are pinned to its source).
"""

from __future__ import annotations

import logging
import os
import sys
from importlib.metadata import version

logger = logging.getLogger(__name__)

SUPPORTED_VERL = "0.9.1"
ROLLOUT_NAME = "hf"
ENV_PLATFORM = "VERL_PLATFORM"
_active = False


CLI_PROFILE = ("+platform=cpu", "platform=cpu")


def requested(argv: list[str] | None = None) -> bool:
    """True when this process was asked to run verl on the CPU backend.

    Either ``VERL_PLATFORM=cpu`` (how Ray workers are told: the profile's ``runtime_env``), or the Hydra override
    ``+platform=cpu`` on this process's command line: the driver imports verl -- and resolves its platform -- before
    Hydra composes the config, so the profile alone could not reach it in time.
    """
    if os.environ.get(ENV_PLATFORM, "").strip().lower() == "cpu":
        return True
    return any(arg in CLI_PROFILE for arg in (sys.argv[1:] if argv is None else argv))


def check_verl_version(found: str | None = None) -> None:
    """Raise unless verl is exactly ``SUPPORTED_VERL``; the message names the fix."""
    found = found if found is not None else version("verl")
    if found != SUPPORTED_VERL:
        raise RuntimeError(
            f"verl_ext.cpu supports verl=={SUPPORTED_VERL} only (found verl=={found}): its patches are pinned to that "
            f"release's source. Install verl=={SUPPORTED_VERL} or unset {ENV_PLATFORM}=cpu."
        )


def register() -> None:
    """Register the ``cpu`` platform and the ``hf`` rollout in verl's registries (no patches)."""
    from verl.plugin.platform import PlatformRegistry
    from verl.workers.rollout import base as rollout_base
    from verl.workers.rollout.replica import RolloutReplicaRegistry

    # verl_ext.cpu.rollout is not imported here: a Ray worker unpickling its classes imports it first, and it
    # imports verl, which imports this plugin -- the rollout module would be half-initialised at this point.
    from verl_ext.cpu.platform import PLATFORM_NAME, PlatformCPU

    PlatformRegistry.register(platform=PLATFORM_NAME)(PlatformCPU)
    RolloutReplicaRegistry.register(ROLLOUT_NAME, _load_replica)
    # verl has no public registration for rollout adapters: _ROLLOUT_REGISTRY is the table get_rollout_class reads
    rollout_base._ROLLOUT_REGISTRY[(ROLLOUT_NAME, "async")] = "verl_ext.cpu.rollout.HFServerAdapter"


def _load_replica() -> type:
    from verl_ext.cpu.rollout import HFReplica

    return HFReplica


def activate() -> None:
    """Turn the CPU backend on in this process: version check, registrations, patches (idempotent)."""
    global _active
    if _active:
        return
    check_verl_version()
    # verl reads VERL_PLATFORM when it first resolves the platform (platform_manager.py:92)
    os.environ[ENV_PLATFORM] = "cpu"
    # verl registers its FSDP engines for devices cuda/npu only (engine/fsdp/transformer_impl.py:1143,1594) although
    # they run on any torch device the platform names; VERL_ENGINE_DEVICE is verl's own lookup override
    # (engine/base.py:405), so the engines are found without importing them here.
    os.environ.setdefault("VERL_ENGINE_DEVICE", "cuda")
    register()
    from verl_ext.cpu import patches

    patches.apply_all()
    _active = True
    logger.info("verl_ext.cpu: CPU backend active (platform cpu, rollout hf) in pid %d", os.getpid())


if requested():
    activate()
