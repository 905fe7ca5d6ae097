"""An offline pass's own provenance fields: model hash, device count and measured wall-clock / GPU-hours (commit,
versions and command come from ``verl_ext.provenance``)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

__all__ = ["Stopwatch", "gpu_count", "model_hash"]

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def model_hash(model_dir: str | Path) -> str:
    """sha256 of ``config.json`` plus the names and sizes of the weight files (cheap; identifies a checkpoint)."""
    root = Path(model_dir)
    config = root / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{root} has no config.json; --model must be a Hugging Face model folder")
    h = hashlib.sha256(config.read_bytes())
    for f in sorted(root.iterdir()):
        if f.suffix in WEIGHT_SUFFIXES:
            h.update(f"{f.name}:{f.stat().st_size}\n".encode())
    return h.hexdigest()


def gpu_count() -> int:
    """CUDA devices visible to this process (0 on CPU machines)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


class Stopwatch:
    """Wall-clock of a pass; GPU-hours = wall-clock hours × visible GPUs (as measured, not estimated)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def summary(self) -> dict[str, Any]:
        hours = (time.perf_counter() - self.start) / 3600.0
        gpus = gpu_count()
        return {"wall_clock_hours": hours, "gpus": gpus, "gpu_hours": hours * gpus}
