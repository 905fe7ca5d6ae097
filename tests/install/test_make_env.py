"""Environment targets of the Makefile and the GPU pre-flight, without installing anything.

Make runs on a temporary copy of the Makefile, pyproject.toml, the locks and the two install scripts, with fake venv
folders and stamps (dry runs: `make -n`; the GPU pre-flight runs for real and must stop before creating anything).
Fake ``nvidia-smi`` / ``nvcc`` executables stand in for a GPU node's driver and toolkit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NEEDS_THE_VENV = ["test", "test-fast", "test-e2e", "lint", "typecheck", "demo", "data", "configs", "check-scripts"]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of what the environment targets read, with an old pyproject and old locks."""
    work = tmp_path / "repo"
    (work / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "Makefile", work)
    shutil.copy(ROOT / "pyproject.toml", work)
    shutil.copytree(ROOT / "requirements", work / "requirements")
    for script in ("check_gpu_env.py", "gpu_locks.py"):
        shutil.copy(ROOT / "scripts" / script, work / "scripts")
    old = time.time() - 3600
    for f in [work / "pyproject.toml", *(work / "requirements").iterdir()]:
        os.utime(f, (old, old))
    return work


def make(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def gpu_venv(repo: Path, engine: str, *, stamped: bool = True) -> Path:
    venv = repo / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / ".gpu-env").write_text(engine + "\n")
    if stamped:
        (venv / f".installed-gpu-{engine}").touch()
    return venv


INSTALLS = ("pip install", "-m venv", "torch==2.13.0")


@pytest.mark.parametrize("target", NEEDS_THE_VENV)
def test_a_finished_gpu_venv_is_used_as_is(repo, target):
    gpu_venv(repo, "vllm")
    proc = make(repo, "-n", target)
    assert proc.returncode == 0, proc.stderr
    assert not any(s in proc.stdout for s in INSTALLS), proc.stdout
    assert ".installed-cpu" not in proc.stdout


def test_the_cpu_recipe_runs_on_a_fresh_clone(repo):
    proc = make(repo, "-n", "test")
    assert proc.returncode == 0, proc.stderr
    for line in ("-m venv .venv", "pip install --quiet torch==2.13.0", '-e ".[dev,cpu]"', "touch .venv/.installed-cpu"):
        assert line in proc.stdout
    assert "scripts/check_gpu_env.py" not in proc.stdout


@pytest.mark.parametrize("newer", ["pyproject.toml", "requirements/gpu-vllm.txt"])
@pytest.mark.parametrize("target", ["test", "data", "demo"])
def test_a_stale_gpu_venv_stops_with_what_to_run(repo, newer, target):
    venv = gpu_venv(repo, "vllm")
    old = time.time() - 1800
    os.utime(venv / ".installed-gpu-vllm", (old, old))
    (repo / newer).touch()
    proc = make(repo, "-n", target)
    assert proc.returncode != 0
    assert f"{newer} is newer" in proc.stderr and "run make setup-gpu" in proc.stderr, proc.stderr
    assert not any(s in proc.stdout for s in (*INSTALLS, "bin/pytest", "scripts/")), proc.stdout


def test_an_unfinished_gpu_setup_is_never_turned_into_a_cpu_venv(repo):
    gpu_venv(repo, "sglang", stamped=False)
    proc = make(repo, "-n", "test")
    assert proc.returncode != 0
    assert "setup did not finish" in proc.stderr and "run make setup-sglang" in proc.stderr, proc.stderr
    assert "torch==2.13.0" not in proc.stdout


def test_an_unstamped_venv_holding_an_engine_is_refused_by_the_cpu_recipe(repo):
    (repo / ".venv" / "lib" / "python3.12" / "site-packages" / "vllm").mkdir(parents=True)
    proc = make(repo, "-n", "test")
    assert proc.returncode != 0
    assert "holds vllm" in proc.stderr and "make setup-gpu" in proc.stderr, proc.stderr


def test_an_unknown_engine_marker_is_refused(repo):
    gpu_venv(repo, "tensorrt")
    proc = make(repo, "-n", "test")
    assert proc.returncode != 0 and "valid: vllm, sglang" in proc.stderr


# ---- GPU pre-flight ---------------------------------------------------------------------------------------------


def fake_bin(tmp_path: Path, *, smi: str | None = None, nvcc: str | None = None) -> dict[str, str]:
    """PATH with fake nvidia-smi (``name, driver, compute_cap`` lines) / nvcc (a release like ``13.0``) first."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir(exist_ok=True)
    if smi is not None:
        (bin_dir / "nvidia-smi").write_text(f"#!/bin/sh\nprintf '%s\\n' '{smi}'\n")
    if nvcc is not None:
        (bin_dir / "nvcc").write_text(f"#!/bin/sh\necho 'Cuda compilation tools, release {nvcc}, V{nvcc}.1'\n")
    for exe in bin_dir.iterdir():
        exe.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has an NVIDIA driver")
def test_setup_gpu_without_a_driver_stops_at_once_and_creates_nothing(repo, tmp_path):
    venv = tmp_path / "gpu-venv"
    for target in ("setup-gpu", "setup-sglang"):
        start = time.monotonic()
        proc = make(repo, target, f"VENV={venv}")
        assert time.monotonic() - start < 60
        assert proc.returncode != 0
        assert "nothing was installed" in proc.stderr
        assert "nvidia-smi not found" in proc.stderr
        assert "CUDA 13.0 build" in proc.stderr and "driver >= 580.65.06" in proc.stderr
        assert "TORCH_INDEX_URL" in proc.stderr
        assert "pip install" not in proc.stdout and "-m venv" not in proc.stdout, proc.stdout
        assert not venv.exists()


def preflight(tmp_path: Path, *args: str, env: dict[str, str], lock: Path | None = None):
    """The pre-flight against a copy of the vLLM lock whose Python is this interpreter's (so GPU_PYTHON passes)."""
    if lock is None:
        lock = tmp_path / "gpu-vllm.txt"
        text = (ROOT / "requirements" / "gpu-vllm.txt").read_text()
        here = f"{sys.version_info[0]}.{sys.version_info[1]}"
        lock.write_text(text.replace("--python-version 3.12", f"--python-version {here}", 1))
    env = {k: v for k, v in {**os.environ, **env}.items() if k not in ("TORCH_INDEX_URL", "FLASH_ATTN_WHEEL")}
    env.pop("CUDA_HOME", None)
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_gpu_env.py"), "--lock", str(lock), "--gpu-python",
         sys.executable, "--venv", str(tmp_path / "venv"), *args],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


A100 = "NVIDIA A100-SXM4-80GB, 580.95.05, 8.0"


def test_preflight_passes_on_a_node_that_fits(tmp_path):
    proc = preflight(
        tmp_path, "--engine", "vllm", "--flash-attn-wheel", "flash_attn.whl", env=fake_bin(tmp_path, smi=A100)
    )
    assert proc.returncode == 0, proc.stderr
    assert "pre-flight ok" in proc.stdout


def test_preflight_refuses_an_old_driver_and_follows_torch_index_url(tmp_path):
    env = fake_bin(tmp_path, smi="NVIDIA A100-SXM4-80GB, 535.104.05, 8.0", nvcc="13.0")
    proc = preflight(tmp_path, "--engine", "vllm", env=env)
    assert proc.returncode == 1
    assert "driver 535.104.05 < 580.65.06" in proc.stderr and "TORCH_INDEX_URL" in proc.stderr, proc.stderr
    # a CUDA 12.8 build of the same torch runs on that driver (nvcc must then be a CUDA 12 one for flash-attn)
    url = "https://download.pytorch.org/whl/cu128"
    proc = preflight(tmp_path, "--engine", "vllm", "--torch-index-url", url, env=env)
    assert proc.returncode == 1 and "driver" not in proc.stderr
    assert "needs nvcc of CUDA 12.x (nvcc 13.0" in proc.stderr and "FLASH_ATTN_WHEEL" in proc.stderr, proc.stderr
    env = fake_bin(tmp_path, nvcc="12.8")
    assert preflight(tmp_path, "--engine", "vllm", "--torch-index-url", url, env=env).returncode == 0
    proc = preflight(tmp_path, "--engine", "vllm", "--torch-index-url", "https://example.org/simple", env=env)
    assert proc.returncode == 1 and "ending in /cuXYZ" in proc.stderr


def test_preflight_refuses_gpus_cuda_13_dropped(tmp_path):
    env = fake_bin(tmp_path, smi="Tesla V100-SXM2-32GB, 580.95.05, 7.0", nvcc="13.0")
    proc = preflight(tmp_path, "--engine", "vllm", env=env)
    assert proc.returncode == 1 and "compute capability 7.0 < 7.5" in proc.stderr, proc.stderr


def test_preflight_refuses_a_missing_toolkit_for_flash_attn(tmp_path):
    env = fake_bin(tmp_path, smi=A100)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not (Path(p) / "nvcc").exists())
    proc = preflight(tmp_path, "--engine", "vllm", env=env)
    assert proc.returncode == 1
    assert "no nvcc in CUDA_HOME/bin or on PATH" in proc.stderr and "FLASH_ATTN_WHEEL" in proc.stderr, proc.stderr


def test_preflight_refuses_the_wrong_python_and_an_old_glibc(tmp_path):
    lock = tmp_path / "gpu-sglang.txt"
    text = (ROOT / "requirements" / "gpu-sglang.txt").read_text()
    lock.write_text(
        text.replace("manylinux_2_34", "manylinux_2_99", 1).replace("--python-version 3.12", "--python-version 3.99", 1)
    )
    env = fake_bin(tmp_path, smi=A100, nvcc="13.0")
    proc = preflight(tmp_path, "--engine", "sglang", env=env, lock=lock)
    assert proc.returncode == 1
    assert "< 2.99" in proc.stderr and "x86_64-manylinux_2_99" in proc.stderr, proc.stderr
    assert "the sglang lock is for Python 3.99" in proc.stderr and "GPU_PYTHON" in proc.stderr


@pytest.mark.parametrize(("existing", "kind"), [(".gpu-env", "vllm"), (".installed-cpu", "CPU")])
def test_preflight_refuses_to_mix_environments(tmp_path, existing, kind):
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / existing).write_text("vllm\n")
    env = fake_bin(tmp_path, smi=A100, nvcc="13.0")
    proc = preflight(tmp_path, "--engine", "sglang", env=env)
    assert proc.returncode == 1
    assert f"already holds a {kind} environment" in proc.stderr and "VENV=.venv-sglang" in proc.stderr


def test_smoke_check_reports_what_a_cpu_venv_lacks(tmp_path):
    """The post-install check, run here with the CPU venv: names the mismatched pin, the missing engine and GPU."""
    import importlib.metadata as md

    header = (ROOT / "requirements" / "gpu-vllm.txt").read_text().split("\n", 2)[:2]
    lock = tmp_path / "gpu-vllm.txt"
    lines = [f"transformers=={md.version('transformers')}", "numpy==0.0.1", "nvidia-cuda-runtime==13.0.96"]
    lock.write_text("\n".join([*header, *lines]) + "\n")
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "check_gpu_env.py"),
            "--engine",
            "vllm",
            "--lock",
            str(lock),
            "--smoke",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 1
    assert f"numpy: installed {md.version('numpy')}, the lock pins 0.0.1" in proc.stderr
    assert "nvidia-cuda-runtime==13.0.96 is in the lock but not installed" in proc.stderr
    assert "transformers" not in proc.stderr
    assert "import vllm failed" in proc.stderr and "import flash_attn failed" in proc.stderr
    assert "expected 13.x" in proc.stderr and "FAILED" in proc.stderr
