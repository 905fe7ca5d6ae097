#!/usr/bin/env python3
"""Pre-flight of `make setup-gpu` / `make setup-sglang`: refuse at once, before anything is created or downloaded,
on a machine where the locked GPU environment cannot work.

Checks (every failure is reported, each naming the requirement and the variable that changes it):
  * Linux x86_64 with glibc at least the lock's manylinux tag (2.28 for vLLM, 2.34 for SGLang's wheels);
  * ``nvidia-smi`` runs and every GPU's driver supports the CUDA build of the locked torch (torch 2.11.0 from PyPI is
    a CUDA 13.0 build: driver >= 580.65.06, compute capability >= 7.5; CUDA 12.x builds need >= 525.60.13, NVIDIA's
    minor-version-compatibility table). ``TORCH_INDEX_URL`` (e.g. https://download.pytorch.org/whl/cu128) picks
    another CUDA build of the same torch version and the check follows its ``cuXYZ``;
  * the interpreter that will hold the venv (``GPU_PYTHON``) is the lock's Python version;
  * flash-attn can be had: ``FLASH_ATTN_WHEEL`` names a prebuilt wheel, or ``nvcc`` of the same CUDA major is found
    (``CUDA_HOME``/bin or PATH) to build the sdist;
  * ``VENV`` is not an environment of another kind (a CPU venv, or the other engine's).

Standard library only (it runs with the system Python, before any venv exists).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_locks import LOCKS, LockInfo, read_lock  # noqa: E402

# NVIDIA's minimum driver per CUDA major (minor version compatibility; CUDA 13.0's own toolkit driver is 580.65.06).
MIN_DRIVER = {13: (580, 65, 6), 12: (525, 60, 13), 11: (450, 80, 2)}
# Oldest GPU architecture each CUDA major still builds for (CUDA 13 dropped Maxwell, Pascal and Volta).
MIN_COMPUTE_CAPABILITY = {13: (7, 5), 12: (5, 0), 11: (3, 5)}
ENV_STAMPS = {"cpu": ".installed-cpu", "vllm": ".installed-gpu-vllm", "sglang": ".installed-gpu-sglang"}
LEGACY_CPU_STAMP = ".installed"  # the CPU stamp before the CPU and GPU stamps were split
MARKER = ".gpu-env"  # written by `make setup-gpu` before it installs anything: which engine this venv is for


@dataclass(frozen=True)
class Gpu:
    name: str
    driver: tuple[int, ...]
    compute_capability: tuple[int, int]


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text))


def fmt(version: Sequence[int]) -> str:
    return ".".join(f"{x:02d}" if i == 2 and len(version) == 3 and x < 10 else str(x) for i, x in enumerate(version))


def query_gpus() -> tuple[list[Gpu], str | None]:
    """The GPUs ``nvidia-smi`` reports, or an explanation of why it could not be asked."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return [], "nvidia-smi not found on PATH (no NVIDIA driver on this machine)"
    try:
        proc = subprocess.run(
            [exe, "--query-gpu=name,driver_version,compute_cap", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], f"nvidia-smi failed: {exc}"
    if proc.returncode != 0:
        return [], f"nvidia-smi failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
    gpus = []
    for line in proc.stdout.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3:
            return [], f"nvidia-smi printed an unexpected line {line!r}"
        cc = version_tuple(parts[2])
        gpus.append(Gpu(parts[0], version_tuple(parts[1]), (cc[0], cc[1] if len(cc) > 1 else 0)))
    if not gpus:
        return [], "nvidia-smi lists no GPU"
    return gpus, None


def cuda_of_index(url: str) -> tuple[int, int]:
    """CUDA version of a PyTorch wheel index URL such as .../whl/cu128 or .../whl/cu130."""
    m = re.search(r"/cu(\d+)(\d)/?$", url.rstrip("/") + "/")
    if m is None:
        raise ValueError(f"TORCH_INDEX_URL={url!r}: expected a PyTorch CUDA index ending in /cuXYZ (.../whl/cu128)")
    return int(m.group(1)), int(m.group(2))


def glibc_version() -> tuple[int, ...] | None:
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):
        return None
    return version_tuple(text) or None


def python_version_of(exe: str) -> tuple[str | None, str | None]:
    path = shutil.which(exe)
    if path is None:
        return None, f"{exe} not found"
    try:
        proc = subprocess.run(
            [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{exe} did not run: {exc}"
    if proc.returncode != 0:
        first = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()[0]
        return None, f"{exe} failed: {first}"
    return proc.stdout.strip(), None


def nvcc_cuda(cuda_home: str | None) -> tuple[tuple[int, ...] | None, str]:
    candidates = [str(Path(cuda_home) / "bin" / "nvcc")] if cuda_home else []
    on_path = shutil.which("nvcc")
    if on_path:
        candidates.append(on_path)
    for exe in candidates:
        if not Path(exe).exists():
            continue
        try:
            out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        m = re.search(r"release (\d+)\.(\d+)", out)
        if m:
            return (int(m.group(1)), int(m.group(2))), exe
    return None, "no nvcc in CUDA_HOME/bin or on PATH"


def check(
    engine: str,
    lock: LockInfo,
    *,
    venv: Path,
    gpu_python: str,
    torch_index_url: str | None,
    flash_attn_wheel: str | None,
    cuda_home: str | None,
) -> list[str]:
    """Every reason the locked ``engine`` environment cannot be installed and run here (empty: go ahead)."""
    errors: list[str] = []
    setup = "make setup-gpu" if engine == "vllm" else "make setup-sglang"

    machine = platform.machine()
    if sys.platform != "linux" or machine != "x86_64":
        errors.append(f"the lock is for Linux x86_64 ({lock.platform}); this is {sys.platform} {machine}")
    glibc = glibc_version()
    if glibc is not None and glibc[:2] < lock.glibc:
        errors.append(
            f"glibc {fmt(glibc)} < {fmt(lock.glibc)}: the {engine} lock's wheels are {lock.platform}"
            + (" (SGLang publishes no older-glibc wheels; use a newer OS image)" if engine == "sglang" else "")
        )

    try:
        cuda = cuda_of_index(torch_index_url) if torch_index_url else lock.torch_cuda
    except ValueError as exc:
        errors.append(str(exc))
        cuda = lock.torch_cuda
    build = f"torch {lock.pins.get('torch', '?')} " + (
        f"from TORCH_INDEX_URL={torch_index_url}" if torch_index_url else "from PyPI"
    )
    need_driver = MIN_DRIVER.get(cuda[0])
    need_cc = MIN_COMPUTE_CAPABILITY.get(cuda[0])
    requirement = (
        f"{build} is a CUDA {cuda[0]}.{cuda[1]} build: it needs an NVIDIA driver >= {fmt(need_driver or ())}"
        f" and GPUs of compute capability >= {fmt(need_cc or ())}"
    )
    other = (
        "To use another CUDA build of torch set TORCH_INDEX_URL, e.g. "
        f"`{setup} TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128` (driver >= 525.60.13; vLLM/SGLang kernels "
        "from PyPI are CUDA 13 builds, see docs/install.md)."
    )
    if need_driver is None:
        errors.append(f"CUDA {cuda[0]}.{cuda[1]} is not supported here (known: {sorted(MIN_DRIVER)})")
    else:
        gpus, why = query_gpus()
        if why:
            errors.append(f"{why}. {requirement}. {other}")
        for gpu in gpus:
            if gpu.driver < need_driver:
                errors.append(
                    f"{gpu.name}: NVIDIA driver {fmt(gpu.driver)} < {fmt(need_driver)}. {requirement}. "
                    f"Upgrade the driver, or: {other}"
                )
            if need_cc is not None and gpu.compute_capability < need_cc:
                errors.append(
                    f"{gpu.name}: compute capability {fmt(gpu.compute_capability)} < {fmt(need_cc)}. {requirement}. "
                    + other
                )

    have, why = python_version_of(gpu_python)
    if have != lock.python_version:
        errors.append(
            f"GPU_PYTHON={gpu_python}: {why or 'Python ' + str(have)}; the {engine} lock is for Python "
            f"{lock.python_version}. Set GPU_PYTHON to a Python {lock.python_version} interpreter "
            f"(e.g. `uv python install {lock.python_version}` or a conda env)"
        )

    if not flash_attn_wheel:
        nvcc, where = nvcc_cuda(cuda_home)
        if nvcc is None or nvcc[0] != cuda[0]:
            found = f"nvcc {fmt(nvcc)} at {where}" if nvcc else where
            errors.append(
                f"flash-attn {lock.pins.get('flash-attn', '?')} is an sdist built against the installed torch: "
                f"it needs nvcc of CUDA {cuda[0]}.x "
                f"({found}). Set CUDA_HOME to a CUDA {cuda[0]} toolkit, or FLASH_ATTN_WHEEL=<url or path of a "
                f"prebuilt flash_attn wheel for torch {lock.pins.get('torch', '?')}, CUDA {cuda[0]}, "
                f"cp{lock.python_version.replace('.', '')}>"
            )

    if venv.exists():
        marker = venv / MARKER
        kind = marker.read_text().strip() if marker.exists() else None
        if kind is None and any((venv / s).exists() for s in (ENV_STAMPS["cpu"], LEGACY_CPU_STAMP)):
            kind = "CPU"
        if kind is None and (venv / "bin" / "python").exists():
            kind = "unstamped"
        if kind is not None and kind != engine:
            errors.append(
                f"VENV={venv} already holds a {kind} environment; the {engine} stack does not install over it. "
                f"Pick another folder (`{setup} VENV=.venv-{engine}`) or remove {venv}"
            )
    return errors


def smoke(engine: str, lock: LockInfo, torch_index_url: str | None) -> list[str]:
    """After the install (run with the new venv's Python): the lock's pins are what is installed, torch sees a GPU of
    the expected CUDA build, and the engine, flash-attn, verl and this package import."""
    import importlib
    import importlib.metadata as md

    errors = []
    for name, version in sorted(lock.pins.items()):
        try:
            have = md.version(name)
        except md.PackageNotFoundError:
            errors.append(f"{name}=={version} is in the lock but not installed")
            continue
        if have.split("+")[0] != version.split("+")[0]:
            errors.append(f"{name}: installed {have}, the lock pins {version}")
    for module in (engine, "flash_attn", "verl", "verl_ext", "recipes"):
        try:
            importlib.import_module(module)
        except Exception as exc:  # an ImportError or a broken CUDA extension: report and go on
            errors.append(f"import {module} failed: {type(exc).__name__}: {exc}")
    try:
        import torch

        want = cuda_of_index(torch_index_url) if torch_index_url else lock.torch_cuda
        built = version_tuple(torch.version.cuda or "")
        if built[:1] != want[:1]:
            errors.append(f"torch {torch.__version__} is built for CUDA {torch.version.cuda}, expected {want[0]}.x")
        if not torch.cuda.is_available():
            errors.append(f"torch {torch.__version__} sees no GPU (torch.cuda.is_available() is False)")
    except Exception as exc:
        errors.append(f"torch: {type(exc).__name__}: {exc}")
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["vllm", "sglang"], required=True)
    parser.add_argument("--lock", type=Path, default=None, help="default: requirements/gpu-<engine>.txt")
    parser.add_argument("--venv", type=Path, default=Path(".venv"))
    parser.add_argument("--gpu-python", default="python3.12")
    parser.add_argument("--torch-index-url", default=os.environ.get("TORCH_INDEX_URL") or None)
    parser.add_argument("--flash-attn-wheel", default=os.environ.get("FLASH_ATTN_WHEEL") or None)
    parser.add_argument("--cuda-home", default=os.environ.get("CUDA_HOME") or None)
    parser.add_argument("--smoke", action="store_true", help="after the install, with the venv's Python: see smoke()")
    args = parser.parse_args(argv)
    lock_path = args.lock or LOCKS[f"gpu-{args.engine}"].path
    try:
        lock = read_lock(lock_path)
        lock.torch_cuda  # noqa: B018  (validates the lock before any check)
    except (OSError, ValueError) as exc:
        print(f"GPU pre-flight: cannot read {lock_path}: {exc}", file=sys.stderr)
        return 2
    if args.smoke:
        errors = smoke(args.engine, lock, args.torch_index_url)
        for e in errors:
            print(f"  - {e}", file=sys.stderr)
        print(f"GPU smoke check of the {args.engine} environment: " + ("FAILED" if errors else "ok"), file=sys.stderr)
        return 1 if errors else 0
    errors = check(
        args.engine,
        lock,
        venv=args.venv,
        gpu_python=args.gpu_python,
        torch_index_url=args.torch_index_url,
        flash_attn_wheel=args.flash_attn_wheel,
        cuda_home=args.cuda_home,
    )
    if errors:
        print(f"GPU pre-flight for the {args.engine} environment failed; nothing was installed:", file=sys.stderr)
        for e in errors:
            print(f"  - {e}", file=sys.stderr)
        return 1
    print(f"GPU pre-flight ok: {args.engine} lock {lock_path} (Python {lock.python_version}, {lock.platform})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
