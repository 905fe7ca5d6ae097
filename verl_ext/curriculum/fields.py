"""Per-prompt data fields read from the training parquet: SEC's arms, AdaRFT's difficulty.

A strategy that needs a column of the data (not only its size) names the file(s) in its config (the run's own
``data.train_files``) and reads the field here, keyed by the row's training index, never by row order alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["column", "read_field"]


def column(frame: Any, key: str, where: str) -> list[Any]:
    """Values of ``key`` (a column, or ``extra_info.<k>`` inside the ``extra_info`` struct), None where absent."""
    if key.startswith("extra_info."):
        sub = key.split(".", 1)[1]
        if "extra_info" not in frame.columns:
            raise ValueError(f"{where} has no extra_info column (needed for the key {key!r})")
        return [e.get(sub) if isinstance(e, dict) else None for e in frame["extra_info"]]
    if key not in frame.columns:
        raise ValueError(f"{where} has no column {key!r}; its columns: {list(frame.columns)}")
    return frame[key].tolist()


def read_field(files: str | Sequence[str], key: str, index_key: str, option: str) -> tuple[str, np.ndarray, list[Any]]:
    """``(where, index, values)`` of field ``key`` over parquet ``files`` concatenated in order (like verl's dataset).

    Args:
        files: the parquet path(s); ``option`` names the config key that gave them, for the error when empty.
        key, index_key: column or ``extra_info.<k>`` of the value and of the row's training index.

    Returns:
        ``where`` (the files, for error messages), ``index`` int64 of shape ``(rows,)`` (−1 where the index is
        missing) and the raw ``values`` (list of length ``rows``).
    """
    import pandas as pd  # lazy: only strategies that read data fields need it

    paths = [files] if isinstance(files, str) else list(files)
    if not paths:
        raise ValueError(f"{option} is empty; point it at the training parquet (${{data.train_files}})")
    frame = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    where = ", ".join(paths)
    index = np.array([-1 if v is None else int(v) for v in column(frame, index_key, where)], dtype=np.int64)
    return where, index, column(frame, key, where)
