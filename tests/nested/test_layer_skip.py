"""Layer skipping for real: the HF rollout's skipped layers are the residual identity and are not run; the vLLM
plugin's identity keeps (hidden_states, residual); the vLLM settings that would replay a graph are refused."""

from __future__ import annotations

import pytest
import torch

from verl_ext.cpu.generation import GenRequest, generate_batch, sampling_key
from verl_ext.cpu.layer_skip import IdentityLayer, decoder_layers, skipped_layers
from verl_ext.nested.vllm_plugin import WORKER_EXTENSION, SkippedLayer, _SkipMixin, check_vllm_rollout_config


def _tiny(num_layers: int = 6):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=num_layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)  # fmt: skip
    return Qwen2ForCausalLM(cfg).eval()


def test_skipped_layers_are_the_identity_and_not_run() -> None:
    model = _tiny()
    layers = decoder_layers(model)
    seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    calls: list[int] = []

    def hook(i):
        def _h(mod, args, kwargs, out):
            calls.append(i)
            seen[i] = (args[0] if args else kwargs["hidden_states"], out[0] if isinstance(out, tuple) else out)

        return _h

    handles = [layer.register_forward_hook(hook(i), with_kwargs=True) for i, layer in enumerate(layers)]
    ids = torch.randint(0, 96, (2, 7))
    with torch.no_grad():
        full = model(ids).logits
        calls.clear()
        with skipped_layers(model, [2, 3]):
            assert isinstance(layers[2], IdentityLayer)
            skipped = model(ids).logits
        skipped_calls = list(calls)
        calls.clear()
        again = model(ids).logits
    for h in handles:
        h.remove()
    assert skipped_calls == [0, 1, 4, 5]  # layers 2 and 3 did no compute
    # residual identity: with 2 and 3 skipped, layer 4 receives exactly what layer 1 produced
    handles = [layers[i].register_forward_hook(hook(i), with_kwargs=True) for i in (1, 4)]
    with torch.no_grad(), skipped_layers(model, [2, 3]):
        model(ids)
    for h in handles:
        h.remove()
    assert torch.equal(seen[4][0], seen[1][1])
    assert not torch.allclose(full, skipped) and torch.equal(full, again)  # modules restored after the block
    assert all(not isinstance(m, IdentityLayer) for m in layers)


def test_generation_with_skipped_layers_returns_the_skipped_models_log_probs() -> None:
    model = _tiny()
    key = sampling_key({"temperature": 0.0, "logprobs": True})
    req = [GenRequest(prompt_ids=[5, 6, 7, 8], max_tokens=6, key=key)]
    with skipped_layers(model, [1, 2, 3]):
        out = generate_batch(model, req, pad_id=0, eos_ids=[95])[0]
        ids = torch.tensor([[5, 6, 7, 8, *out.token_ids]])
        with torch.no_grad():
            ref = torch.log_softmax(model(ids).logits[0, 3:-1].float(), -1)
    ref_lp = ref.gather(-1, torch.tensor(out.token_ids)[:, None]).squeeze(-1)
    assert torch.allclose(torch.tensor(out.log_probs), ref_lp, atol=1e-4)
    full = generate_batch(model, req, pad_id=0, eos_ids=[95])[0]
    assert full.log_probs != out.log_probs


def test_layer_zero_and_out_of_range_layers_are_refused() -> None:
    model = _tiny(4)
    for bad in ([0], [4]):
        with pytest.raises(ValueError, match="valid are 1..3"), skipped_layers(model, bad):
            pass


def test_vllm_identity_keeps_hidden_states_and_residual() -> None:
    pos, h, r = torch.arange(3), torch.randn(3, 8), torch.randn(3, 8)
    assert SkippedLayer()(pos, h, r) == (h, r)
    out = SkippedLayer()(positions=pos, hidden_states=h, residual=r)
    assert out[0] is h and out[1] is r


class _FakeInner(torch.nn.Module):
    """The shape of vLLM's Qwen2Model loop: ``hidden, residual = layer(positions, hidden, residual)``."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList([_AddLayer(i) for i in range(n)])
        self.start_layer, self.end_layer = 0, n

    def forward(self, positions, hidden):
        residual = None
        for layer in self.layers[self.start_layer : self.end_layer]:
            hidden, residual = layer(positions, hidden, residual)
        return hidden + residual


class _AddLayer(torch.nn.Module):
    def __init__(self, i: int) -> None:
        super().__init__()
        self.i = i

    def forward(self, positions, hidden, residual):
        stream = hidden if residual is None else hidden + residual
        return torch.full_like(stream, 10.0**self.i), stream


class _FakeCausalLM(torch.nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.model = _FakeInner(n)

    def forward(self, positions, hidden):
        return self.model(positions, hidden)


def test_vllm_mixin_skips_the_set_layers_and_restores_them() -> None:
    cls = type("SkippableFake", (_SkipMixin, _FakeCausalLM), {})
    m = cls(4)
    x = torch.zeros(2)
    assert m(torch.arange(2), x)[0].item() == 1111.0  # every layer adds 10**i to the stream
    m.set_nested_skip([1, 2])
    assert m(torch.arange(2), x)[0].item() == 1001.0
    assert all(isinstance(layer, _AddLayer) for layer in m.model.layers)
    with pytest.raises(ValueError, match="never skipped"):
        m.set_nested_skip([0])


def test_vllm_settings_that_replay_graphs_are_refused() -> None:
    from omegaconf import OmegaConf

    ext = {"worker_extension_cls": WORKER_EXTENSION}
    with pytest.raises(ValueError, match="enforce_eager=true"):
        check_vllm_rollout_config(OmegaConf.create({"enforce_eager": False, "engine_kwargs": {"vllm": ext}}))
    with pytest.raises(ValueError, match=r"compilation_config.mode=0"):
        check_vllm_rollout_config(OmegaConf.create({"enforce_eager": True, "engine_kwargs": {"vllm": ext}}))
    ok = {"enforce_eager": True, "engine_kwargs": {"vllm": {"compilation_config": {"mode": 0}, **ext}}}
    check_vllm_rollout_config(OmegaConf.create(ok))
