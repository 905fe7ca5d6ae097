"""The vLLM wiring of Nested-ReFT on CPU, with stand-ins for the vLLM and verl modules it imports on GPU:
resolving the worker extension the way vLLM does registers the skippable classes; the named RPC sets S on the
worker's model; the trainer sends the RPC (a name, not a callable) to each replica's engine server and then resets
the prefix cache; the nested vLLM rows carry the extension and a config without it is refused."""

from __future__ import annotations

import importlib
import sys
import types

import pytest
import torch
from omegaconf import OmegaConf

from verl_ext.nested import vllm_plugin
from verl_ext.nested.controller import NestedConfig, NestedController
from verl_ext.nested.correction import VARIANTS
from verl_ext.nested.schedule import SkipScheduleConfig


class _StockCausalLM(torch.nn.Module):
    """Stands for vLLM's Qwen2ForCausalLM: ``model.layers``, ``start_layer``/``end_layer``."""

    def __init__(self, n: int = 6) -> None:
        super().__init__()
        self.model = torch.nn.Module()
        self.model.layers = torch.nn.ModuleList([torch.nn.Identity() for _ in range(n)])
        self.model.start_layer, self.model.end_layer = 0, n


class _VerlExtension:
    """Stands for verl 0.9.1's vLLMColocateWorkerExtension."""

    def update_weights_from_ipc(self) -> str:
        return "verl"


@pytest.fixture
def fake_vllm(monkeypatch):
    """``vllm.ModelRegistry`` (records registrations), vLLM's model modules and verl's vLLM worker utils."""
    registered: dict[str, str] = {}
    vllm = types.ModuleType("vllm")
    vllm.ModelRegistry = types.SimpleNamespace(register_model=lambda arch, cls: registered.__setitem__(arch, cls))
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    for module, base in vllm_plugin.ARCHITECTURES.values():
        mod = types.ModuleType(module)
        setattr(mod, base, type(base, (_StockCausalLM,), {}))
        monkeypatch.setitem(sys.modules, module, mod)
    utils = types.ModuleType(vllm_plugin.VERL_WORKER_EXTENSION[0])
    setattr(utils, vllm_plugin.VERL_WORKER_EXTENSION[1], _VerlExtension)
    monkeypatch.setitem(sys.modules, vllm_plugin.VERL_WORKER_EXTENSION[0], utils)
    monkeypatch.setattr(vllm_plugin, "_CLASSES", {})
    return registered


def _resolve(qualname: str) -> type:
    """How vLLM resolves ``worker_extension_cls`` (``resolve_obj_by_qualname``): import the module, getattr."""
    module, _, name = qualname.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_resolving_the_extension_registers_the_skippable_models(fake_vllm) -> None:
    assert fake_vllm == {}
    ext = _resolve(vllm_plugin.WORKER_EXTENSION)
    assert issubclass(ext, _VerlExtension) and callable(getattr(ext, vllm_plugin.SET_SKIP_RPC))
    assert fake_vllm == {a: f"verl_ext.nested.vllm_plugin:Skippable{a}" for a in vllm_plugin.ARCHITECTURES}
    for arch, lazy in fake_vllm.items():  # vLLM's _LazyRegisteredModel.load_model_cls: import_module + getattr
        module, _, name = lazy.partition(":")
        cls = getattr(importlib.import_module(module), name)
        stock = getattr(sys.modules[vllm_plugin.ARCHITECTURES[arch][0]], vllm_plugin.ARCHITECTURES[arch][1])
        assert issubclass(cls, stock) and issubclass(cls, vllm_plugin._SkipMixin)
    assert _resolve(vllm_plugin.WORKER_EXTENSION) is ext  # built once per process
    with pytest.raises(AttributeError, match="SkippableGPT2"):
        _resolve("verl_ext.nested.vllm_plugin.SkippableGPT2ForCausalLM")


def test_the_named_rpc_sets_s_on_the_workers_model(fake_vllm) -> None:
    ext = _resolve(vllm_plugin.WORKER_EXTENSION)
    # vLLM mixes the extension into its worker class; only non-dunder attributes may not clash (init_worker)
    new = [a for a in dir(ext) if not a.startswith("__") and not hasattr(_VerlExtension, a)]
    assert new == [vllm_plugin.SET_SKIP_RPC]
    model = vllm_plugin.SkippableQwen3ForCausalLM(6)
    worker_cls = type("Worker", (ext,), {})
    worker = worker_cls()
    worker.model_runner = types.SimpleNamespace(get_model=lambda: model)
    getattr(worker, vllm_plugin.SET_SKIP_RPC)([3, 1])  # vLLM's run_method: getattr(worker, name)(*args)
    assert model.nested_skip == (1, 3) and worker.update_weights_from_ipc() == "verl"
    with pytest.raises(ValueError, match="never skipped"):
        getattr(worker, vllm_plugin.SET_SKIP_RPC)([0])
    worker.model_runner = types.SimpleNamespace(get_model=lambda: _StockCausalLM())
    with pytest.raises(RuntimeError, match="not a skippable model"):
        getattr(worker, vllm_plugin.SET_SKIP_RPC)([1])


class _Remote:
    def __init__(self, log: list, name: str, method: str) -> None:
        self.log, self.name, self.method = log, name, method

    def remote(self, *args, **kwargs):
        self.log.append((self.name, self.method, args, kwargs))
        return None


class _Server:
    def __init__(self, log: list, name: str) -> None:
        self.collective_rpc = _Remote(log, name, "collective_rpc")
        self.clear_kv_cache = _Remote(log, name, "clear_kv_cache")


def test_the_trainer_sends_the_rpc_to_each_engine_and_resets_the_prefix_cache(monkeypatch) -> None:
    import ray

    monkeypatch.setattr(ray, "get", lambda refs: refs)
    log: list = []
    replicas = [types.SimpleNamespace(servers=[_Server(log, f"r{i}n0"), _Server(log, f"r{i}n1")]) for i in (0, 1)]
    trainer = types.SimpleNamespace(
        llm_server_manager=types.SimpleNamespace(get_replicas=lambda: replicas), global_steps=1
    )
    cfg = NestedConfig(schedule=SkipScheduleConfig(skip_ratio=0.5, seed=3))
    ctl = NestedController(cfg, 8, "vllm", dict(VARIANTS["token_tis"]))
    ctl.before_generation(trainer)
    rpc = [(n, a, k) for n, m, a, k in log if m == "collective_rpc"]
    assert [n for n, _, _ in rpc] == ["r0n0", "r1n0"]  # node rank 0 holds the AsyncLLM
    assert all(a == (vllm_plugin.SET_SKIP_RPC,) and k == {"args": (ctl.current,)} for _, a, k in rpc)
    assert len(ctl.current) == 4
    # the cache reset of each engine comes after the RPCs
    assert [(n, m) for n, m, _, _ in log[2:]] == [("r0n0", "clear_kv_cache"), ("r1n0", "clear_kv_cache")]


def test_a_nested_vllm_config_without_the_extension_is_refused() -> None:
    ok = {
        "enforce_eager": True,
        "engine_kwargs": {
            "vllm": {"compilation_config": {"mode": 0}, "worker_extension_cls": vllm_plugin.WORKER_EXTENSION}
        },
    }
    vllm_plugin.check_vllm_rollout_config(OmegaConf.create(ok))
    bad = OmegaConf.create(ok)
    bad.engine_kwargs.vllm.worker_extension_cls = None
    with pytest.raises(ValueError, match="worker_extension_cls=verl_ext.nested.vllm_plugin.NestedWorkerExtension"):
        vllm_plugin.check_vllm_rollout_config(bad)
