"""The value is the head output at the last prompt token (docs/pcl.md §12)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import Qwen2Config, Qwen2ForTokenClassification

from verl_ext.curriculum.pcl import explained_variance
from verl_ext.workers.loss import last_token_values
from verl_ext.workers.value_worker import build_value_batch

PAD = 0


@pytest.fixture(scope="module")
def model() -> Qwen2ForTokenClassification:
    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, num_labels=1, pad_token_id=PAD,
    )  # fmt: skip
    cfg._attn_implementation = "eager"
    return Qwen2ForTokenClassification(cfg).eval()


def _values(model: Qwen2ForTokenClassification, prompts: list[list[int]]) -> np.ndarray:
    """Forward a right-padded batch like verl's value engine without remove-padding, narrow each row to its
    length (``FSDPEngineWithValueHead.prepare_model_outputs``), and read the last token."""
    td, num_real = build_value_batch(prompts, dp_size=1)
    ids = td["input_ids"].to_padded_tensor(PAD)
    attn = torch.nested.as_nested_tensor(
        [torch.ones(len(p), dtype=torch.int64) for p in prompts], layout=torch.jagged
    ).to_padded_tensor(0)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=attn).logits.squeeze(-1)  # (bsz, max_len)
    lengths = td["input_ids"].offsets().diff()
    nested = torch.nested.narrow(logits, 1, torch.zeros_like(lengths), lengths, layout=torch.jagged)
    nested = torch.nested.nested_tensor_from_jagged(torch.cat(list(nested.unbind())), td["input_ids"].offsets())
    return last_token_values(nested)[:num_real].numpy()


def test_value_is_head_output_at_the_last_prompt_token(model: Qwen2ForTokenClassification) -> None:
    prompts = [[5, 6, 7], [8, 9, 10, 11, 12, 13], [14]]
    batched = _values(model, prompts)
    for i, p in enumerate(prompts):
        with torch.no_grad():
            alone = model(input_ids=torch.tensor([p])).logits[0, len(p) - 1, 0].item()
        assert batched[i] == pytest.approx(alone, abs=1e-5)


def test_padding_and_other_rows_do_not_change_the_value(model: Qwen2ForTokenClassification) -> None:
    base = _values(model, [[5, 6, 7]])[0]
    with_long_neighbour = _values(model, [[5, 6, 7], list(range(20, 50))])[0]  # row padded by 27 tokens
    assert with_long_neighbour == pytest.approx(base, abs=1e-5)
    assert _values(model, [[40, 41], [5, 6, 7]])[1] == pytest.approx(base, abs=1e-5)


def test_the_last_prompt_token_matters(model: Qwen2ForTokenClassification) -> None:
    base = _values(model, [[5, 6, 7]])[0]
    changed = _values(model, [[5, 6, 8]])[0]
    assert abs(changed - base) > 1e-4


def test_explained_variance_hand_numbers() -> None:
    p = np.array([0.0, 0.5, 1.0, 0.25])
    v = np.array([0.1, 0.4, 0.8, 0.3])
    # Var(p) = 0.13671875, Var(p - v) = 0.0142187... -> 1 - 0.0142188/0.1367188 = 0.896
    assert explained_variance(p, v) == pytest.approx(0.896, abs=5e-4)
    assert np.isnan(explained_variance(np.full(4, 0.5), v))
