"""Atomic, deterministic writers for the offline tables (a failed pass never leaves a partial file)."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["atomic_write_bytes", "write_json", "write_table"]


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    """Sorted, indented JSON, written atomically."""
    return atomic_write_bytes(path, (json.dumps(payload, indent=1, sort_keys=True) + "\n").encode())


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """A small numeric table as parquet (no pandas index), written atomically; same frame → same bytes."""
    buf = io.BytesIO()
    frame.reset_index(drop=True).to_parquet(buf, index=False)
    return atomic_write_bytes(path, buf.getvalue())
