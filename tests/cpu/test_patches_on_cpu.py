"""Guards of verl_ext/cpu's patches: each fails when the verl code a patch was written against changes.

Also: importing the plugin without VERL_PLATFORM=cpu registers nothing, and a wrong verl version is refused.
These run in subprocesses so that activating the backend never leaks into other tests' processes.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("verl")

VERL_VERSION = "0.9.1"


def _run(code: str, env_extra: dict[str, str] | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("VERL_PLATFORM", "VERL_USE_EXTERNAL_MODULES")}
    env.update(env_extra or {})
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_verl_is_the_pinned_version() -> None:
    import verl

    assert verl.__version__ == VERL_VERSION


def test_backend_string_patch_target() -> None:
    """Patch 1 target: verl/utils/distributed.py:83-99."""
    from verl.utils import distributed

    fn = distributed.initialize_global_process_group_ray
    params = list(inspect.signature(fn).parameters.items())
    assert [(n, p.default) for n, p in params] == [("timeout_second", None), ("backend", None)] or (
        fn.__defaults__ == (None, "cpu:gloo")  # already patched in this process
    )
    src = inspect.getsource(fn)
    assert 'backend = backend or f"cpu:gloo,{get_device_name()}:{get_nccl_backend()}"' in src
    # engine_workers imports the function by name: the patch must change the function object, not the attribute
    engine_workers_src = inspect.getsource(__import__("verl.workers.engine_workers", fromlist=["x"]))
    assert "from verl.utils.distributed import initialize_global_process_group_ray" in engine_workers_src
    assert "initialize_global_process_group_ray(timeout_second=None)" in engine_workers_src


def test_pin_memory_patch_target() -> None:
    """Patch 2 target: verl/workers/engine/fsdp/transformer_impl.py:42-43 and :462."""
    import verl.workers.engine.fsdp.transformer_impl as impl

    src = inspect.getsource(impl)
    assert "from verl.utils.fsdp_utils import (\n    CPUOffloadPolicy," in src
    assert "offload_policy = CPUOffloadPolicy(pin_memory=True)" in src
    from torch.distributed.fsdp import CPUOffloadPolicy

    assert "pin_memory" in inspect.signature(CPUOffloadPolicy).parameters


def test_valuehead_patch_target() -> None:
    """Patch 3 target: verl/utils/model.py:641 (hard-coded flash-attention 2) and its call-time import."""
    from verl.utils import model

    fn = model.load_valuehead_model
    assert list(inspect.signature(fn).parameters) == ["local_path", "torch_dtype", "model_config", "trust_remote_code"]
    assert inspect.getsource(fn).count('attn_implementation="flash_attention_2"') == 2
    import verl.workers.engine.fsdp.transformer_impl as impl

    src = inspect.getsource(impl.FSDPEngine._build_module)
    assert "from verl.utils.model import load_valuehead_model" in src  # imported at call time: patchable


def test_registries_we_plug_into() -> None:
    """The registries the plugin writes to keep their 0.9.1 shape."""
    from verl.plugin.platform import PlatformRegistry
    from verl.workers.engine.base import EngineRegistry
    from verl.workers.rollout import base
    from verl.workers.rollout.replica import RolloutReplicaRegistry

    assert set(base._ROLLOUT_REGISTRY) >= {("vllm", "async")}
    assert inspect.signature(RolloutReplicaRegistry.register).parameters.keys() == {"name", "loader"}
    assert "platform" in inspect.signature(PlatformRegistry.register).parameters
    assert 'os.getenv("VERL_ENGINE_DEVICE")' in inspect.getsource(EngineRegistry.get_engine_cls)
    import verl.workers.engine.fsdp.transformer_impl  # noqa: F401  (registers the FSDP engines)

    assert "cuda" in EngineRegistry._engines["value_model"]["fsdp2"]
    assert "cuda" in EngineRegistry._engines["language_model"]["fsdp2"]


@pytest.mark.slow  # fresh interpreter importing verl
def test_import_without_env_registers_nothing() -> None:
    got = _run("""
        import json, verl, verl_ext.cpu.plugin as plugin
        from verl.plugin.platform import PlatformRegistry
        from verl.workers.rollout import base
        from verl.workers.rollout.replica import RolloutReplicaRegistry
        from verl.utils import distributed, model
        print(json.dumps({"active": plugin._active, "platforms": list(PlatformRegistry.registered_names()),
              "hf_adapter": ("hf", "async") in base._ROLLOUT_REGISTRY,
              "hf_replica": "hf" in RolloutReplicaRegistry._registry,
              "pg_default": distributed.initialize_global_process_group_ray.__defaults__,
              "valuehead": model.load_valuehead_model.__module__}))
    """)
    assert got == {
        "active": False,
        "platforms": ["nvidia", "huawei", "amd"],
        "hf_adapter": False,
        "hf_replica": False,
        "pg_default": [None, None],
        "valuehead": "verl.utils.model",
    }


@pytest.mark.slow  # fresh interpreter importing verl
def test_activated_by_env_in_every_process() -> None:
    got = _run(
        """
        import json, verl, verl_ext.cpu.plugin as plugin
        from verl.utils.device import get_device_name, get_nccl_backend, get_torch_device, get_device_id
        from verl.utils import distributed, model, fsdp_utils
        from verl.workers.rollout.base import get_rollout_class
        import torch
        pol = fsdp_utils.CPUOffloadPolicy(pin_memory=True)
        dm = get_torch_device(); dm.empty_cache(); dm.synchronize()
        print(json.dumps({"active": plugin._active, "device": get_device_name(), "backend": get_nccl_backend(),
              "device_id": get_device_id(), "adapter": get_rollout_class("hf").__name__,
              "pg_default": distributed.initialize_global_process_group_ray.__defaults__,
              "pinned": pol.pin_memory, "valuehead": model.load_valuehead_model.__module__,
              "name": dm.get_device_name(), "free_gt_0": dm.mem_get_info()[0] > 0}))
        """,
        {"VERL_PLATFORM": "cpu"},
    )
    assert got == {
        "active": True,
        "device": "cpu",
        "backend": "gloo",
        "device_id": "cpu",
        "adapter": "HFServerAdapter",
        "pg_default": [None, "cpu:gloo"],
        "pinned": False,
        "valuehead": "verl_ext.cpu.patches",
        "name": "cpu",
        "free_gt_0": True,
    }


def test_cli_profile_activates_driver() -> None:
    from verl_ext.cpu.plugin import requested

    assert requested(["--config-name", "x", "+platform=cpu"]) or os.environ.get("VERL_PLATFORM") == "cpu"
    if os.environ.get("VERL_PLATFORM") != "cpu":
        assert not requested(["--config-name", "x", "trainer.device=cuda"])


def test_wrong_verl_version_is_refused() -> None:
    from verl_ext.cpu.plugin import check_verl_version

    check_verl_version(VERL_VERSION)
    with pytest.raises(RuntimeError, match=r"verl==0\.9\.1 only \(found verl==0\.10\.0\)"):
        check_verl_version("0.10.0")


@pytest.mark.slow  # fresh interpreter importing verl
def test_gloo_process_group_with_patched_default() -> None:
    """The patched default actually initialises a one-rank gloo group (the unpatched string is rejected)."""
    got = _run(
        """
        import json, os
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29611", RANK="0", WORLD_SIZE="1")
        import torch, torch.distributed as dist, verl
        from verl.utils.distributed import initialize_global_process_group_ray
        initialize_global_process_group_ray(timeout_second=None)
        t = torch.ones(3); dist.all_reduce(t)
        print(json.dumps({"backend": dist.get_backend(), "sum": t.tolist()}))
        """,
        {"VERL_PLATFORM": "cpu"},
    )
    assert got["sum"] == [1.0, 1.0, 1.0]
    assert got["backend"] in ("gloo", "cpu:gloo")
