"""The value head computes in fp32 under bf16 mixed precision, and its optional constant initialisation
(docs/pcl.md §4)."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from transformers import Qwen2Config, Qwen2ForTokenClassification

from verl_ext.workers.loss import TARGET_KEY, pcl_value_loss
from verl_ext.workers.value_worker import (
    build_value_batch,
    find_value_head,
    head_init_value,
    install_fp32_head,
    prepare_value_head,
)


def _model(seed: int = 0) -> Qwen2ForTokenClassification:
    torch.manual_seed(seed)
    cfg = Qwen2Config(
        vocab_size=97, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, num_labels=1, pad_token_id=0,
    )  # fmt: skip
    cfg._attn_implementation = "eager"
    model = Qwen2ForTokenClassification(cfg).eval()
    with torch.no_grad():  # predictions near τ = 0.5, where bf16's grid step is 2^-8
        model.score.bias.fill_(0.5)
        model.score.weight.mul_(0.05)
    return model


IDS = torch.tensor([[5, 6, 7, 8, 9, 10, 11, 12], [13, 14, 15, 16, 17, 18, 19, 20]] * 8)


def _autocast_values(model: torch.nn.Module) -> torch.Tensor:
    """Forward under bf16 autocast, as verl's FSDP engine does with ``mixed_precision.param_dtype=bf16``."""
    with torch.no_grad(), torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        return model(input_ids=IDS).logits.squeeze(-1)


def test_stock_head_under_autocast_is_bf16_and_quantised() -> None:
    """The defect being fixed: HF's head under autocast returns bf16 values on a 2^-8 grid near 0.5."""
    v = _autocast_values(_model())
    assert v.dtype == torch.bfloat16
    assert bool(((v.float() > 0.25) & (v.float() < 1.0)).all())
    grid = v.float() * 512
    assert torch.equal(grid, grid.round())  # bf16 in [0.25, 1): multiples of 2^-9 (2^-8 from 0.5 up)


def test_fp32_head_under_autocast_returns_unquantised_fp32_scores() -> None:
    model = _model()
    install_fp32_head(find_value_head(model))
    v = _autocast_values(model)
    assert v.dtype == torch.float32
    grid = v * 512
    off_grid = (grid - grid.round()).abs() > 1e-3
    assert off_grid.float().mean() > 0.9  # not on bf16's grid
    # distinct prompts get distinct scores: the bf16 head collapses many of them onto the same grid points
    assert torch.unique(v).numel() > torch.unique(_autocast_values(_model())).numel()
    # the same head in fp32 without autocast agrees up to the bf16 rounding of the backbone's activations
    with torch.no_grad():
        ref = model(input_ids=IDS).logits.squeeze(-1)
    assert torch.allclose(v, ref, atol=5e-3)


def test_value_loss_is_fp32_under_autocast() -> None:
    """The loss runs inside the engine's autocast: fp32 from a bf16 or fp32 head output, with the fp32 value."""
    v32 = torch.tensor([0.5012, 0.4987, 0.7031])
    ybar = np.array([0.5, 0.5, 0.75])
    td, _ = build_value_batch([[1, 2], [3], [4, 5, 6]], dp_size=1, targets=ybar)
    for head_out in (v32, v32.to(torch.bfloat16)):
        rows = [
            torch.cat([torch.zeros(n - 1, dtype=head_out.dtype), head_out[i : i + 1]]) for i, n in enumerate((2, 1, 3))
        ]
        out = {"values": torch.nested.as_nested_tensor(rows, layout=torch.jagged)}
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            loss, _ = pcl_value_loss(out, td)
        assert loss.dtype == torch.float32
    expected = float(np.mean((v32.numpy().astype(np.float64) - ybar) ** 2))
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        rows = [torch.cat([torch.zeros(n - 1), v32[i : i + 1]]) for i, n in enumerate((2, 1, 3))]
        loss, _ = pcl_value_loss({"values": torch.nested.as_nested_tensor(rows, layout=torch.jagged)}, td)
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    assert td[TARGET_KEY].dtype == torch.float32


def test_fp32_head_keeps_gradients_and_parameter_names() -> None:
    model = _model()
    names = [n for n, _ in model.named_parameters()]
    install_fp32_head(find_value_head(model))
    assert [n for n, _ in model.named_parameters()] == names
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        model(input_ids=IDS).logits.sum().backward()
    assert model.score.weight.grad is not None and model.score.weight.grad.abs().sum() > 0
    assert model.model.layers[0].mlp.up_proj.weight.grad is not None


@pytest.mark.parametrize(("activation", "init", "bias"), [("none", 0.5, 0.5), ("sigmoid", 0.25, float(np.log(1 / 3)))])
def test_constant_head_init_predicts_the_init_value_for_every_prompt(activation: str, init: float, bias: float) -> None:
    model = _model()
    worker = types.SimpleNamespace(engine=types.SimpleNamespace(module=model, is_param_offload_enabled=False))
    stats = prepare_value_head(worker, init, activation)
    assert stats["bias"] == pytest.approx(bias) and stats["weight_abs_sum"] == 0.0
    with torch.no_grad():
        raw = model(input_ids=IDS).logits.squeeze(-1)
    pred = torch.sigmoid(raw) if activation == "sigmoid" else raw
    assert torch.allclose(pred, torch.full_like(pred, init))


def test_random_head_init_is_left_alone_but_made_fp32() -> None:
    model = _model()
    before = model.score.weight.detach().clone()
    worker = types.SimpleNamespace(engine=types.SimpleNamespace(module=model, is_param_offload_enabled=False))
    prepare_value_head(worker, None)
    assert torch.equal(model.score.weight, before)
    assert _autocast_values(model).dtype == torch.float32


def test_head_init_value_is_checked() -> None:
    assert head_init_value(None) is None and head_init_value("null") is None
    assert head_init_value(0.5) == 0.5 and head_init_value("0.3", "sigmoid") == 0.3
    with pytest.raises(ValueError, match="head_init_value.*null"):
        head_init_value("half")
    with pytest.raises(ValueError, match=r"in \(0, 1\) with head_activation=sigmoid"):
        head_init_value(1.0, "sigmoid")
    with pytest.raises(RuntimeError, match="value head 'score'"):
        find_value_head(torch.nn.Sequential(torch.nn.Linear(4, 2)))
