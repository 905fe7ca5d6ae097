"""GVM (docs/methods/gvm.md): weights, sum-preserving allocation, the selector, and the embedding grad norm."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from verl_ext.curriculum import build_curriculum
from verl_ext.curriculum.gvm import GVMConfig, GVMCurriculum, allocate_rollouts, gvm_weights, sum_preserving_round
from verl_ext.curriculum.testing import FakeRolloutContext, roundtrip_state

M = 8


def _table(num: int = 40, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.choice(np.array([0.0, 0.125, 0.5, 0.875, 1.0]), size=num)
    g = np.where(p > 0, rng.uniform(0.5, 3.0, size=num), 0.0)
    return {"index": rng.permutation(100)[:num], "p": p, "G": g}


def test_weights_match_the_spec() -> None:
    g = np.array([1.0, 1.0, 1.0, 2.0, 0.0, 1.0])
    p = np.array([0.5, 0.03, 1.0, 0.125, 0.5, 0.0])
    np.testing.assert_allclose(gvm_weights(g, p), [1.41139, 3.97360, 0.99950, 5.48408, 0.0, 0.0], atol=5e-6)


def test_rounding_preserves_the_sum() -> None:
    assert allocate_rollouts(np.ones(3), np.full(3, 0.5), 10).tolist() == [4, 3, 3]
    # p = 1 everywhere makes w ∝ G, so the shares are exactly (.45, .45, .1)
    assert allocate_rollouts(np.array([0.45, 0.45, 0.1]), np.ones(3), 5).tolist() == [2, 2, 1]
    assert sum_preserving_round(np.array([2.25, 2.25, 0.5]), 5).tolist() == [2, 2, 1]
    # e < 0 with tied residuals: the earlier positions lose one
    assert sum_preserving_round(np.full(5, 0.6), 3).tolist() == [0, 0, 1, 1, 1]
    rng = np.random.default_rng(0)
    for _ in range(50):
        t = _table(int(rng.integers(5, 60)), int(rng.integers(1000)))
        budget = int(rng.integers(0, 500))
        n = allocate_rollouts(t["G"], t["p"], budget)
        w = gvm_weights(t["G"], t["p"])
        assert n.sum() == budget and n.min() >= 0 and np.all(n[w == 0] == 0)
        assert np.all(np.abs(n - budget * w / w.sum()) < 1.0 + 1e-9)
    with pytest.raises(ValueError, match="nothing to allocate"):
        allocate_rollouts(np.zeros(3), np.full(3, 0.5), 10)
    with pytest.raises(ValueError, match="accept_rate must lie in"):
        allocate_rollouts(np.ones(2), np.array([0.5, 1.5]), 10)


def test_selector_submits_allocation_and_drops_zeros() -> None:
    table = _table()
    cur = GVMCurriculum(GVMConfig(batch_size=M, n=8, seed=2), 100, pilot_table=table)
    alloc = dict(zip(table["index"].tolist(), allocate_rollouts(table["G"], table["p"], 8 * 40).tolist()))
    assert sum(alloc.values()) == 8 * 40
    ctx = FakeRolloutContext(np.full(100, 0.5), seed=0)
    drawn: list[int] = []
    for _ in range(15):  # > 3 passes over 40 rows (5 batches of 8 each)
        met = cur.run_step(ctx)
        (method, idx, counts), *rest = ctx.record.calls
        assert method == "submit" and not rest
        assert counts.tolist() == [alloc[i] for i in idx.tolist()] and counts.min() >= 1
        assert len(ctx.committed) == idx.size and met["gvm/responses_per_step"] == counts.sum()
        assert met["gvm/singleton_groups"] == (counts == 1).sum()
        drawn.extend(idx.tolist())
        ctx.new_step()
    assert cur.data_epoch == 2
    # without replacement within each pass: the 5 steps of a pass cover every allocated prompt exactly once
    allocated = sorted(i for i in table["index"].tolist() if alloc[i] > 0)
    assert sorted(drawn[: len(allocated)]) == allocated
    assert sorted(drawn[len(allocated) : 2 * len(allocated)]) == allocated
    zero = [i for i, n in alloc.items() if n == 0]
    assert zero and not set(zero) & set(drawn)


def test_parquet_table_and_n_column(tmp_path) -> None:
    table = _table()
    n = np.arange(40) % 3
    path = tmp_path / "gvm_iter1.parquet"
    pq.write_table(pa.table({**table, "n": n}), path)
    cur = build_curriculum("gvm", {"pilot_path": str(path), "batch_size": M, "n": 8}, 100)
    ctx = FakeRolloutContext(np.full(100, 0.5), seed=0)
    cur.run_step(ctx)
    _, idx, counts = ctx.record.calls[0]
    lookup = dict(zip(table["index"].tolist(), n.tolist()))
    assert counts.tolist() == [lookup[i] for i in idx.tolist()]
    with pytest.raises(ValueError, match="curriculum.pilot_path"):
        build_curriculum("gvm", {}, 100)
    with pytest.raises(ValueError, match="duplicate index"):
        GVMCurriculum(GVMConfig(), 100, pilot_table={**table, "index": np.zeros(40, dtype=int)})
    with pytest.raises(ValueError, match="training pool has 10 prompts"):
        GVMCurriculum(GVMConfig(batch_size=4), 10, pilot_table=table)
    with pytest.raises(ValueError, match="alpha"):
        GVMConfig(alpha=0.0)


def test_state_roundtrip_gives_identical_next_proposals() -> None:
    table = _table(60, seed=3)
    for via in ("pickle", "torch"):
        a = GVMCurriculum(GVMConfig(batch_size=M, n=8, seed=1), 100, pilot_table=table)
        ctx = FakeRolloutContext(np.full(100, 0.5), seed=0)
        for _ in range(4):
            a.run_step(ctx)
            ctx.new_step()
        b = GVMCurriculum(GVMConfig(batch_size=M, n=8, seed=9), 100, pilot_table=table)
        b.load_state_dict(roundtrip_state(a.state_dict(), via))
        ctx_a, ctx_b = FakeRolloutContext(np.full(100, 0.5), seed=1), FakeRolloutContext(np.full(100, 0.5), seed=1)
        for _ in range(25):
            assert a.run_step(ctx_a) == b.run_step(ctx_b)
            ctx_a.new_step()
            ctx_b.new_step()
        calls_a = [(idx.tolist(), n.tolist()) for rec in ctx_a.history for _, idx, n in rec.calls]
        assert sum(len(i) for i, _ in calls_a) >= 100
        assert calls_a == [(idx.tolist(), n.tolist()) for rec in ctx_b.history for _, idx, n in rec.calls]
    other = GVMCurriculum(GVMConfig(batch_size=M, n=8), 100, pilot_table=_table(60, seed=4))
    with pytest.raises(ValueError, match="allocation changed since the checkpoint"):
        other.load_state_dict(a.state_dict())


@pytest.mark.parametrize("tied", [True, False])
def test_per_sequence_grad_norm_matches_manual_autograd(tied: bool) -> None:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from verl_ext.curriculum.gradnorm import per_sequence_grad_norm

    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=tied,
    )
    model = Qwen2ForCausalLM(cfg).eval()
    ids = torch.randint(0, 64, (3, 12))
    mask = torch.zeros(3, 12)
    for b, start in enumerate((4, 6, 9)):
        mask[b, start:] = 1
    got = per_sequence_grad_norm(model, ids, mask)
    assert got.shape == (3,) and all(p.grad is None for p in model.parameters())
    expected = []
    for b in range(3):
        # independent path: transformers' own shifted cross-entropy (mean over labelled tokens) × token count
        labels = torch.where(mask[b : b + 1] > 0, ids[b : b + 1], torch.full_like(ids[b : b + 1], -100))
        model.zero_grad()
        loss = model(input_ids=ids[b : b + 1], labels=labels).loss * mask[b, 1:].sum()
        loss.backward()
        expected.append(model.model.embed_tokens.weight.grad.norm().item())
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4)
    assert len(set(np.round(expected, 5))) == 3  # the three sequences differ
    with pytest.raises(ValueError, match="no parameter name contains"):
        per_sequence_grad_norm(model, ids, mask, param_name_substring="nope")
