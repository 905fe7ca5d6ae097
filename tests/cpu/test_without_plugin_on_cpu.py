"""Without verl_ext.cpu, verl 0.9.1 cannot run on a GPU-less host -- the plugin is what makes the e2e tests work.

Each case runs in a fresh interpreter with verl's entry-point discovery switched off (VERL_USE_EXTERNAL_PLUGINS=none)
so our plugin is not loaded, and checks the specific failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("verl")
pytestmark = pytest.mark.slow  # each case is a fresh interpreter importing verl


def _run(code: str, **env_extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("VERL_PLATFORM", "VERL_USE_EXTERNAL_MODULES")}
    env.update(VERL_USE_EXTERNAL_PLUGINS="none", **env_extra)
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_platform_falls_back_to_nvidia_and_cuda_calls_fail() -> None:
    got = _run("""
        import json, os, torch
        from omegaconf import OmegaConf
        import verl
        from verl.utils.device import auto_set_device, get_device_name, get_nccl_backend, get_torch_device
        cfg = OmegaConf.create({"trainer": {"device": "cpu"}})
        auto_set_device(cfg)
        try:
            get_torch_device().current_device(); err = None
        except Exception as e:
            err = f"{type(e).__name__}: {e}"
        print(json.dumps({"device": get_device_name(), "backend": get_nccl_backend(),
                          "trainer_device": cfg.trainer.device, "cuda": torch.cuda.is_available(), "err": err}))
    """)
    assert got["cuda"] is False
    # verl detects no accelerator, falls back to nvidia, and rewrites trainer.device=cpu to cuda
    assert (got["device"], got["backend"], got["trainer_device"]) == ("cuda", "nccl", "cuda")
    assert got["err"] is not None and "CUDA" in got["err"]


def test_process_group_init_fails_without_plugin() -> None:
    got = _run("""
        import json, os
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29617", RANK="0", WORLD_SIZE="1")
        import verl
        from verl.utils.distributed import initialize_global_process_group_ray
        try:
            initialize_global_process_group_ray(timeout_second=None); err = None
        except Exception as e:
            err = f"{type(e).__name__}: {e}"
        print(json.dumps({"err": err}))
    """)
    assert got["err"] is not None and ("nccl" in got["err"].lower() or "cuda" in got["err"].lower()), got


def test_cpu_platform_unknown_without_plugin() -> None:
    got = _run(
        """
        import json, verl
        from verl.plugin.platform import get_platform
        try:
            get_platform(); err = None
        except ValueError as e:
            err = str(e)
        print(json.dumps({"err": err}))
        """,
        VERL_PLATFORM="cpu",
    )
    assert got["err"] is not None and got["err"].startswith("Unknown platform 'cpu'")
