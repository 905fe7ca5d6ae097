"""Run provenance, written once by one helper: training (the runner), evaluation, offline pilots, the iteration driver
and the demo all call :func:`write_provenance`.

A record holds what identifies a result (docs/data.md for the dataset sidecars):

- ``git_commit`` (``git rev-parse HEAD`` of this project, or ``unknown``) and ``git_dirty`` (bool; uncommitted
  changes to tracked files; ``None`` when not a git checkout) — the one spelling of the dirty state;
- ``versions``: verl, torch, vllm, sglang, transformers (``not installed`` when absent);
- ``command``: the interpreter and ``sys.argv``; ``cwd``; ``host``; ``created_utc``;
- ``config``: the resolved config (training) or the arguments (scripts);
- ``datasets``: per parquet file read, its ``<split>.meta.json`` sidecar (path, sha256 of the sidecar, and its
  revision fields), or ``meta: null`` for a file not written by ``scripts/prepare_data.py``;
- ``kind`` and any extra fields the caller adds.

A folder keeps every record: the first is ``provenance.json``; a later one (a resumed run, a rerun into the same
folder) is ``provenance-<n>.json`` with the next free ``n``, so the first is never overwritten.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "PACKAGES",
    "build_provenance",
    "dataset_provenance",
    "git_state",
    "package_versions",
    "write_provenance",
]

logger = logging.getLogger(__name__)

PACKAGES = ("verl", "torch", "vllm", "sglang", "transformers")
# revision fields of a ``<split>.meta.json`` worth repeating in the run's record (the sidecar's sha256 pins the rest)
_META_FIELDS = ("dataset", "hf_id", "subset", "split", "revision", "url", "rows_written", "git_commit", "created_utc")
_REPO = Path(__file__).resolve().parents[1]


def git_state(repo: str | Path = _REPO) -> dict[str, Any]:
    """``{"git_commit": sha | "unknown", "git_dirty": bool | None}`` of the checkout holding ``repo``.

    Dirty means uncommitted changes to tracked files (untracked files are ignored, as ``scripts/launch.sh``'s refusal
    does)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": "unknown", "git_dirty": None}
    return {"git_commit": head.stdout.strip(), "git_dirty": bool(status.stdout.strip())}


def commit_label(repo: str | Path = _REPO) -> str:
    """One string for a record's commit: ``<sha>``, ``<sha>+dirty`` with uncommitted tracked changes, or ``unknown``."""
    state = git_state(repo)
    return state["git_commit"] + ("+dirty" if state["git_dirty"] else "")


def package_versions(packages: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Installed version of each package (``not installed`` when absent); read from metadata, nothing imported."""
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _as_list(files: Any) -> list[str]:
    if files is None or files == "":
        return []
    if isinstance(files, (str, Path)):
        return [str(files)]
    return [str(f) for f in files]


def dataset_provenance(files: Any) -> list[dict[str, Any]]:
    """Per parquet file: ``path``, ``meta_path``, ``meta_sha256`` and the sidecar's revision fields.

    ``files`` is a path or a list of paths (verl's ``data.train_files`` / ``data.val_files`` accept both). A file
    without a ``<split>.meta.json`` (a fixture, a hand-made file) gets ``meta: null``; remote URIs are recorded as
    given."""
    from verl_ext.data.layout import sidecar

    records = []
    for path in _as_list(files):
        record: dict[str, Any] = {"path": path}
        meta_path = sidecar(path, "meta") if "://" not in path else None
        if meta_path is None or not meta_path.is_file():
            record["meta"] = None
        else:
            raw = meta_path.read_bytes()
            record["meta_path"] = str(meta_path)
            record["meta_sha256"] = hashlib.sha256(raw).hexdigest()
            try:
                meta = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{meta_path} is not valid JSON ({exc}); rerun scripts/prepare_data.py") from exc
            record["meta"] = {k: meta[k] for k in _META_FIELDS if k in meta}
        records.append(record)
    return records


def _plain(config: Any) -> Any:
    """A JSON-ready copy of an OmegaConf config (resolved), a mapping, or an argparse namespace."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(config, (DictConfig, ListConfig)):
            return OmegaConf.to_container(config, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a verl dependency
        pass
    if hasattr(config, "__dict__") and not isinstance(config, Mapping):
        config = {k: v for k, v in vars(config).items() if not k.startswith("_")}
    return json.loads(json.dumps(config, default=str))  # paths and other objects as strings


def build_provenance(
    kind: str,
    config: Any = None,
    data_files: Mapping[str, Any] | None = None,
    argv: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The record of one run or pass.

    Args:
        kind: what wrote it (``train``, ``eval``, ``pilot``, ``iterations``, ``demo``).
        config: the resolved config (OmegaConf, a mapping or an argparse namespace); stored under ``config``.
        data_files: ``{"train": files, "val": files, ...}`` → ``datasets`` (:func:`dataset_provenance`).
        argv: the command line (default ``sys.argv``).
        extra: more fields (must be JSON-serialisable).
    """
    record: dict[str, Any] = {
        "kind": kind,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **git_state(),
        "versions": package_versions(),
        "command": [sys.executable, *(sys.argv if argv is None else argv)],
        "cwd": str(Path.cwd()),
        "host": socket.gethostname(),
    }
    if data_files is not None:
        record["datasets"] = {split: dataset_provenance(files) for split, files in data_files.items()}
    if config is not None:
        record["config"] = _plain(config)
    record.update(extra)
    return record


def _next_free(directory: Path) -> Path:
    first = directory / "provenance.json"
    if not first.exists():
        return first
    n = 1
    while (directory / f"provenance-{n}.json").exists():
        n += 1
    return directory / f"provenance-{n}.json"


def write_provenance(directory: str | Path, record: Mapping[str, Any]) -> Path:
    """Write ``record`` to ``<directory>/provenance.json``, or ``provenance-<n>.json`` when earlier ones exist.

    The file is created exclusively (an existing record is never overwritten, even by a concurrent writer).
    Returns the path written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=1, default=str, ensure_ascii=False)
    while True:
        path = _next_free(directory)
        try:
            with path.open("x", encoding="utf-8") as handle:
                handle.write(text + "\n")
        except FileExistsError:
            continue
        logger.info("provenance written to %s", path)
        return path
