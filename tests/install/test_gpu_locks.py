"""The GPU lock files (requirements/gpu-*.txt): in sync with pyproject.toml, resolvable by metadata, and consistent
with verl 0.9.1's own pins and with the CPU environment's transformers (docs/install.md)."""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import os
import re
import shutil
import sys
import urllib.request
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


gpu_locks = _load("gpu_locks")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
EXTRAS = PYPROJECT["project"]["optional-dependencies"]


def _pin(requirements: list[str], name: str) -> str:
    for req in requirements:
        m = re.fullmatch(rf"{re.escape(name)}(\[[^\]]*\])?==([^\s;]+)", req.split(";")[0].strip())
        if m:
            return m.group(2)
    raise AssertionError(f"{name} has no == pin in {requirements}")


@pytest.fixture(scope="module")
def locks():
    return {name: gpu_locks.read_lock(spec.path) for name, spec in gpu_locks.LOCKS.items()}


def test_lock_headers_match_their_specs(locks):
    for name, spec in gpu_locks.LOCKS.items():
        info = locks[name]
        assert (info.python_version, info.platform) == (spec.python_version, spec.platform), name
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", info.exclude_newer), info.exclude_newer
        assert info.torch_cuda == (13, 0), "torch 2.11.0 from PyPI is the CUDA 13.0 build the pre-flight checks for"


def test_engines_live_in_separate_locks(locks):
    vllm, sglang = locks["gpu-vllm"].pins, locks["gpu-sglang"].pins
    assert vllm["vllm"] == "0.24.0" and "sglang" not in vllm
    assert sglang["sglang"] == _pin(EXTRAS["sglang"], "sglang") and "vllm" not in sglang
    # the pins that make the two engines impossible to co-install (issue: xgrammar, transformers)
    assert vllm["xgrammar"] != sglang["xgrammar"] or vllm["transformers"] != sglang["transformers"]


def test_gpu_extras_keep_verls_own_pins(locks):
    """torch / vLLM / transformers of the vLLM lock are verl 0.9.1's `vllm` extra; the SGLang lock keeps its torch."""
    verl_vllm = [r.split(";")[0] for r in md.requires("verl") if 'extra == "vllm"' in r]
    for name in ("torch", "torchvision", "torchaudio", "vllm", "transformers"):
        assert locks["gpu-vllm"].pins[name] == _pin(verl_vllm, name), name
    for name in ("torch", "torchvision", "torchaudio"):
        assert locks["gpu-sglang"].pins[name] == _pin(verl_vllm, name), name
    verl_fsdp = [r.split(";")[0] for r in md.requires("verl") if 'extra == "fsdp"' in r]
    for lock in locks.values():
        assert lock.pins["verl"] == "0.9.1"
        assert lock.pins["trl"] == _pin(verl_fsdp, "trl"), "value-model fallback of verl's FSDP engine"
        assert "liger-kernel" in lock.pins
        # flash-attn resolves by metadata; make builds it after torch (no build isolation) with what the lock has
        assert lock.pins["flash-attn"] == "2.8.3"
        assert {"einops", "ninja", "packaging", "psutil", "setuptools", "wheel", "torch"} <= set(lock.pins)


def test_sglang_lock_transformers_is_one_verl_accepts(locks):
    verl_spec = next(r for r in md.requires("verl") if r.startswith("transformers") and "extra" not in r)
    bounds = re.findall(r"(>=|<|!=)([\d.]+)", verl_spec)
    have = tuple(int(x) for x in locks["gpu-sglang"].pins["transformers"].split("."))
    for op, version in bounds:
        v = tuple(int(x) for x in version.split("."))
        assert {">=": have >= v, "<": have < v, "!=": have != v}[op], (verl_spec, have)


def test_cpu_environment_pins_the_vllm_locks_transformers(locks):
    """Issue item 6: CPU CI tests the value worker on the transformers most GPU rows run."""
    want = locks["gpu-vllm"].pins["transformers"]
    assert _pin(EXTRAS["cpu"], "transformers") == want
    assert md.version("transformers") == want, "run `make setup` (the cpu extra pins transformers)"


def test_read_lock_refuses_a_lock_without_its_header(tmp_path):
    bad = tmp_path / "lock.txt"
    bad.write_text("torch==2.11.0\n")
    with pytest.raises(ValueError, match="make locks"):
        gpu_locks.read_lock(bad)
    bad.write_text("# uv pip compile pyproject.toml --python-version 3.12\ntorch==2.11.0\n")
    with pytest.raises(ValueError, match="--python-platform"):
        gpu_locks.read_lock(bad)


def test_compare_names_every_differing_pin():
    spec = gpu_locks.LOCKS["gpu-vllm"]
    committed = {"torch": "2.11.0", "transformers": "5.9.0", "gone": "1.0"}
    fresh = {"torch": "2.11.0", "transformers": "5.10.4", "new": "2.0"}
    (message,) = gpu_locks.compare(spec, committed, fresh)
    for line in ("-transformers==5.9.0", "+transformers==5.10.4", "-gone==1.0", "+new==2.0", "make locks"):
        assert line in message
    assert "torch" not in message.replace("pyproject.toml", "")
    assert gpu_locks.compare(spec, fresh, dict(fresh)) == []


def _index_reachable() -> str | None:
    url = os.environ.get("UV_DEFAULT_INDEX") or os.environ.get("UV_INDEX_URL") or "https://pypi.org/simple/"
    try:
        urllib.request.urlopen(url.rstrip("/") + "/uv/", timeout=15).close()
    except OSError as exc:
        return f"package index {url} unreachable ({exc}): the GPU locks cannot be re-resolved"
    return None


@pytest.fixture(scope="module")
def index():
    why = _index_reachable()
    if why:
        pytest.skip(why)


@pytest.mark.parametrize("name", sorted(gpu_locks.LOCKS))
def test_lock_is_in_sync_with_pyproject(index, name):
    """Metadata-only re-resolution of the extra (as of the lock's --exclude-newer) equals the committed lock."""
    problems = gpu_locks.check_lock(gpu_locks.LOCKS[name])
    assert not problems, "\n".join(problems)


def test_a_pyproject_change_is_caught(index, tmp_path):
    """A pin changed in pyproject.toml but not in the lock fails the check, naming the package."""
    (tmp_path / "requirements").mkdir()
    spec = gpu_locks.LOCKS["gpu-vllm"]
    shutil.copy(spec.path, spec.path_in(tmp_path))
    text = (ROOT / "pyproject.toml").read_text()
    assert '"liger-kernel>=0.8.2",' in text
    (tmp_path / "pyproject.toml").write_text(text.replace('"liger-kernel>=0.8.2",', '"liger-kernel==0.8.2",', 1))
    (problem,) = gpu_locks.check_lock(spec, root=tmp_path)
    assert "out of sync" in problem and "+liger-kernel==0.8.2" in problem, problem
