"""Where prepared files live: one layout for data preparation, training configs and evaluation.

``$DATA_DIR/<template>/<name>/<split>.parquet``, with two JSON sidecars next to each parquet file:

- ``<split>.meta.json``: provenance (source id, pinned revision, rows read / written / dropped, golds normalised,
  template, evaluation suite and samples per problem, git commit of this project);
- ``<split>.dropped.json``: every source row that preparation dropped and why.

``scripts/prepare_data.py --out $DATA_DIR/<template>`` writes this layout, the Hydra configs read
``${DATA_DIR}/${run.template}/<name>/{train,test}.parquet``, and ``scripts/eval.py --data-dir $DATA_DIR/<template>``
reads ``<name>/test.parquet``; all three go through ``prepared_file``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SPLITS = ("train", "test")


def prepared_file(root: str | Path, name: str, split: str) -> Path:
    """``<root>/<name>/<split>.parquet``; ``root`` is one template's folder, e.g. ``$DATA_DIR/qwen_math``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    if not name or "/" in name:
        raise ValueError(f"dataset name must be a plain non-empty name, got {name!r}")
    return Path(root) / name / f"{split}.parquet"


def sidecar(parquet: str | Path, kind: str) -> Path:
    """The ``meta`` or ``dropped`` JSON next to a prepared parquet file (``test.parquet`` -> ``test.meta.json``)."""
    if kind not in ("meta", "dropped"):
        raise ValueError(f"sidecar kind must be 'meta' or 'dropped', got {kind!r}")
    path = Path(parquet)
    return path.with_name(f"{path.stem}.{kind}.json")


def read_meta(parquet: str | Path) -> dict[str, Any] | None:
    """The provenance sidecar of a prepared file, or None when the file was not written by ``prepare_data.py``."""
    path = sidecar(parquet, "meta")
    return json.loads(path.read_text()) if path.is_file() else None
