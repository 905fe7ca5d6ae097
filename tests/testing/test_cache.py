"""The build cache: keyed reuse, rebuild on a new key, atomicity, and refusal to overwrite foreign folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from verl_ext.testing.cache import MARKER, cache_root, cached_build, copy_build, is_built, spec_key


def _writer(calls: list[str], text: str):
    def build(out: Path) -> None:
        calls.append(text)
        (out / "a.txt").write_text(text)

    return build


def test_cache_root_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERL_EXT_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c" and (tmp_path / "c").is_dir()


def test_spec_key_is_stable_and_order_free() -> None:
    assert spec_key({"a": 1, "b": 2}) == spec_key({"b": 2, "a": 1}) != spec_key({"a": 1, "b": 3})


def test_builds_once_per_key(tmp_path: Path) -> None:
    calls: list[str] = []
    target = tmp_path / "t"
    assert cached_build(target, "k1", _writer(calls, "one")) == target
    cached_build(target, "k1", _writer(calls, "again"))
    assert calls == ["one"] and (target / "a.txt").read_text() == "one"
    cached_build(target, "k2", _writer(calls, "two"))  # new key: rebuilt in place
    assert calls == ["one", "two"] and (target / "a.txt").read_text() == "two" and is_built(target, "k2")


def test_failed_build_leaves_nothing(tmp_path: Path) -> None:
    def boom(out: Path) -> None:
        (out / "partial").write_text("x")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cached_build(tmp_path / "t", "k", boom)
    assert list(tmp_path.iterdir()) == []


def test_refuses_foreign_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="not built by verl_ext"):
        cached_build(tmp_path, "k", _writer([], "x"))
    assert (tmp_path / "mine.txt").read_text() == "user data"


def test_copy_build_skips_marker_and_is_idempotent(tmp_path: Path) -> None:
    src = cached_build(tmp_path / "src", "k", _writer([], "payload"))
    dst = copy_build(src, tmp_path / "dst", "k")
    assert (dst / "a.txt").read_text() == "payload" and is_built(dst, "k") and (dst / MARKER).is_file()
    stamp = (dst / "a.txt").stat().st_mtime_ns
    copy_build(src, dst, "k")
    assert (dst / "a.txt").stat().st_mtime_ns == stamp
