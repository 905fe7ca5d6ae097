"""Hydra composition helpers shared by the config tests: one Hydra instance per session, memoised composes."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


_SHARED = {"on": True}


class _CopyOnReadCache(dict):
    """Hydra mutates loaded configs while merging: hand out a deep copy, never the cached object."""

    def __getitem__(self, key: str) -> Any:
        return copy.deepcopy(super().__getitem__(key))


def share_hydra_file_cache() -> None:
    """Let every compose reuse the YAML files already loaded (verl's ~30 files dominate a compose).

    Hydra builds a fresh ``CachingConfigRepository`` per compose; one shared dict makes the 190 overlays affordable.
    ``test_shared_cache_gives_the_same_config`` checks this does not change any composed value.
    """
    from hydra._internal import config_repository

    cls = config_repository.CachingConfigRepository
    if getattr(cls, "_shared_cache_patched", False):
        return
    shared = _CopyOnReadCache()
    original = cls.__init__

    def init(self: Any, delegate: Any) -> None:
        original(self, delegate)
        if _SHARED["on"]:
            self.cache = shared

    cls.__init__ = init  # type: ignore[method-assign]
    cls._shared_cache_patched = True  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def hydra_session() -> Iterator[None]:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        yield
    GlobalHydra.instance().clear()


@functools.cache
def _compose_cached(recipe: str, overrides: tuple[str, ...]) -> DictConfig:
    # never resolve in place: composed nodes may be shared with the cached YAML files
    cfg = compose(config_name=recipe, overrides=list(overrides))
    resolved = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    OmegaConf.set_readonly(resolved, True)  # shared between tests: a write fails loudly
    return resolved


@pytest.fixture
def fresh_compose(hydra_session: None) -> Callable[..., DictConfig]:
    """Compose without the shared YAML cache (Hydra's own behaviour), resolved."""

    def _run(recipe: str, *overrides: str) -> DictConfig:
        _SHARED["on"] = False
        try:
            cfg = compose(config_name=recipe, overrides=list(overrides))
        finally:
            _SHARED["on"] = True
        OmegaConf.resolve(cfg)
        return cfg

    return _run


@pytest.fixture(scope="session")
def compose_cfg(hydra_session: None):  # noqa: ANN201 - returns a callable
    """``compose_cfg(recipe, *overrides)`` -> resolved, read-only DictConfig (memoised per arguments)."""
    share_hydra_file_cache()

    def _run(recipe: str, *overrides: str) -> DictConfig:
        return _compose_cached(recipe, tuple(overrides))

    return _run
