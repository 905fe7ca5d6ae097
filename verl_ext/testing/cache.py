"""A content-keyed, atomic build cache for test and demo artefacts (tokenizers, tiny models, datasets).

Artefacts are built once into ``$VERL_EXT_CACHE`` (default ``<repo>/data/cache``, git-ignored) and reused: a folder
counts as built only when its marker file holds the same key as the caller asks for, so a changed recipe rebuilds
instead of silently reusing a stale folder. Builds go to a temporary sibling folder and are renamed into place, so a
crashed or concurrent build never leaves a half-written folder that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CACHE_ENV = "VERL_EXT_CACHE"
MARKER = ".verl_ext_build.json"
# verl_ext/testing/cache.py -> repo root is three levels up (only meaningful for an editable / source checkout)
_REPO_ROOT = Path(__file__).resolve().parents[2]


def cache_root() -> Path:
    """The artefact cache folder: ``$VERL_EXT_CACHE`` if set, else ``<repo>/data/cache``."""
    env = os.environ.get(CACHE_ENV)
    root = Path(env).expanduser() if env else _REPO_ROOT / "data" / "cache"
    root.mkdir(parents=True, exist_ok=True)
    return root


def spec_key(spec: Mapping[str, Any]) -> str:
    """A short stable hash of a JSON-serialisable build spec (sorted keys)."""
    blob = json.dumps(spec, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def file_digest(*paths: Path) -> str:
    """sha256 (16 hex chars) over the bytes of ``paths`` in order; used to key builds on their inputs."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


def is_built(target: Path, key: str) -> bool:
    """True if ``target`` holds a finished build whose marker records ``key``."""
    marker = Path(target) / MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()).get("key") == key
    except (OSError, json.JSONDecodeError):
        return False


def _check_replaceable(target: Path) -> None:
    """Refuse to overwrite a folder we did not build (it may hold the user's files)."""
    if target.exists() and not (target / MARKER).is_file() and any(target.iterdir()):
        raise FileExistsError(
            f"{target} exists, is not empty and was not built by verl_ext.testing; pass an empty or new folder."
        )


def cached_build(target: Path, key: str, build: Callable[[Path], None], spec: Mapping[str, Any] | None = None) -> Path:
    """Run ``build(tmp_dir)`` unless ``target`` already holds the build for ``key``; return ``target``.

    ``build`` writes into a fresh temporary folder next to ``target``; the folder is renamed into place only after
    ``build`` returned and the marker is written. An existing folder built by us with another key is replaced.
    """
    target = Path(target)
    if is_built(target, key):
        return target
    _check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(tmp)
        tmp.chmod(0o755)  # mkdtemp makes 0700; other users/processes (Ray workers, CI caches) must read it
        (tmp / MARKER).write_text(json.dumps({"key": key, "spec": dict(spec or {})}, indent=1, default=str))
        if is_built(target, key):  # a concurrent builder finished first: keep theirs
            shutil.rmtree(tmp)
            return target
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("built %s (key %s)", target, key)
    return target


def copy_build(source: Path, target: Path, key: str) -> Path:
    """Copy a finished cached build ``source`` to ``target`` (skipped when ``target`` already has ``key``)."""

    def _copy(tmp: Path) -> None:
        for item in Path(source).iterdir():
            if item.name == MARKER:
                continue
            dst = tmp / item.name
            shutil.copytree(item, dst) if item.is_dir() else shutil.copy2(item, dst)

    return cached_build(Path(target), key, _copy, {"copied_from": str(source)})
