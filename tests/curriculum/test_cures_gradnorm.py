"""CurES ``gradnorm`` σ: the LM-head gradient norm from one forward pass, and the actor-worker function around it."""

from __future__ import annotations

import contextlib
import types

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from verl_ext.curriculum.gradnorm import lm_head_grad_norm
from verl_ext.workers.gradnorm_extension import subset_labels, trajectory_keys
from verl_ext.workers.gradnorm_worker import build_gradnorm_batch, lm_head_gradnorm_on_worker, split_norms


def _tiny_model(tied: bool) -> torch.nn.Module:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                      num_key_value_heads=1, max_position_embeddings=64, tie_word_embeddings=tied)  # fmt: skip
    return Qwen2ForCausalLM(cfg).eval()


def _autograd_head_norm(model, ids, start, mask, temperature) -> float:
    """‖∂(−Σ_t m_t log softmax(z_t/T)[y_t])/∂W_head‖ by autograd on the output projection's weight only."""
    head = model.get_output_embeddings()
    logits = model(input_ids=ids[None]).logits[0] / temperature
    logp = torch.log_softmax(logits[start - 1 : -1].float(), -1).gather(-1, ids[start:, None]).squeeze(-1)
    loss = -(logp * mask).sum()
    (grad,) = torch.autograd.grad(loss, [head.weight])
    return float(grad.norm())


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_lm_head_norm_equals_autograd_on_an_untied_head(temperature: float) -> None:
    model = _tiny_model(tied=False)
    ids = torch.randint(0, 50, (12,), generator=torch.Generator().manual_seed(1))
    start = 5
    mask = torch.tensor([1, 1, 1, 0, 1, 1, 1], dtype=torch.float32)  # one response token masked out
    want = _autograd_head_norm(model, ids, start, mask, temperature)
    batch = build_gradnorm_batch([ids[:start]], [ids[start:]], [mask], world_size=1, temperature=temperature)
    engine = types.SimpleNamespace(module=model, eval_mode=contextlib.nullcontext)
    out = lm_head_gradnorm_on_worker(types.SimpleNamespace(actor=types.SimpleNamespace(engine=engine)), batch)
    assert out["gradnorm"].shape == (1,)
    assert float(out["gradnorm"][0]) == pytest.approx(want, rel=1e-4)
    # the same through the pure function with vocabulary chunks smaller than V
    with torch.no_grad():
        captured = {}
        hook = model.lm_head.register_forward_pre_hook(lambda _m, a: captured.__setitem__("h", a[0]))
        logits = model(input_ids=ids[None]).logits[0]
        hook.remove()
    got = lm_head_grad_norm(captured["h"][0][start - 1 : -1], logits[start - 1 : -1], ids[start:], mask,
                            temperature, vocab_chunk=7)  # fmt: skip
    assert float(got) == pytest.approx(want, rel=1e-4)


def test_worker_batch_is_padded_to_the_world_size_and_norms_differ_per_trajectory() -> None:
    model = _tiny_model(tied=True)
    gen = torch.Generator().manual_seed(2)
    prompts = [torch.randint(0, 50, (k,), generator=gen) for k in (3, 5, 4)]
    responses = [torch.randint(0, 50, (k,), generator=gen) for k in (4, 2, 6)]
    masks = [torch.ones(r.numel()) for r in responses]
    batch = build_gradnorm_batch(prompts, responses, masks, world_size=2, temperature=1.0)
    assert batch.batch_size[0] == 4 and batch["valid"].tolist() == [1, 1, 1, 0]
    assert batch["seq_len"].tolist() == [7, 7, 10, 7] and batch["prompt_len"].tolist() == [3, 5, 4, 3]
    engine = types.SimpleNamespace(module=model, eval_mode=contextlib.nullcontext)
    worker = types.SimpleNamespace(actor=types.SimpleNamespace(engine=engine))
    chunks = [batch[:2], batch[2:]]  # what DP_COMPUTE_PROTO_WITH_FUNC hands to two ranks
    norms = torch.cat([lm_head_gradnorm_on_worker(worker, c)["gradnorm"] for c in chunks]).numpy()
    for j in range(3):
        # tied embeddings: only the output use of the weight is measured = autograd through a detached copy of W
        ids, start = torch.cat([prompts[j], responses[j]]), prompts[j].numel()
        with torch.no_grad():
            hidden = model.model(input_ids=ids[None]).last_hidden_state[0]  # the head's input (after the final norm)
        w = model.lm_head.weight.detach().clone().requires_grad_(True)
        logits = hidden @ w.T
        logp = torch.log_softmax(logits[start - 1 : -1], -1).gather(-1, ids[start:, None]).squeeze(-1)
        (grad,) = torch.autograd.grad(-(logp * masks[j]).sum(), [w])
        assert norms[j] == pytest.approx(float(grad.norm()), rel=1e-4)
    assert norms[3] == pytest.approx(norms[0])  # the padding row repeats row 0 and is dropped by the caller
    assert len(set(np.round(norms[:3], 6))) == 3
    with pytest.raises(RuntimeError, match="actor engine"):
        lm_head_gradnorm_on_worker(types.SimpleNamespace(actor=None), batch)


def test_trajectory_keys_follow_the_reward_order_and_split_norms() -> None:
    listing = {"u1": {"is_prompt": True}, "u1_1_0": {}, "u1_0_0": {}, "u1_0_1": {}, "u2_0_0": {}, "v_0_0": {}}
    assert trajectory_keys(listing, ["u1", "u2"]) == {"u1": ["u1_0_0", "u1_0_1", "u1_1_0"], "u2": ["u2_0_0"]}
    parts = split_norms(np.arange(5.0), [3, 2])
    assert [p.tolist() for p in parts] == [[0, 1, 2], [3, 4]]
    with pytest.raises(ValueError, match="norms for"):
        split_norms(np.arange(2.0), [3])


def test_subset_labels_name_rows_without_one() -> None:
    assert subset_labels([{"subset": 1}, {"subset": 2}]) == [1, 2]
    with pytest.raises(ValueError, match=r"first rows: \[1\].*subsets=equal"):
        subset_labels([{"subset": 1}, {"index": 1}])


def test_extension_measure_reads_pilot_trajectories_in_reward_order_and_sleeps_the_rollout(monkeypatch) -> None:
    from verl_ext.curriculum.base import Group
    from verl_ext.workers import gradnorm_extension as ext

    model = _tiny_model(tied=False)
    gen = torch.Generator().manual_seed(3)
    store: dict[str, dict[str, torch.Tensor]] = {}
    for uid, n in (("a", 3), ("b", 2)):
        for i in range(n):
            resp = torch.randint(0, 50, (3 + i,), generator=gen)
            store[f"{uid}_{i}_0"] = {"prompts": torch.randint(0, 50, (4,), generator=gen), "responses": resp,
                                     "response_mask": torch.ones(resp.numel())}  # fmt: skip
    listing = {"a": {"is_prompt": True}, "b": {"is_prompt": True}, **{k: {} for k in reversed(list(store))}}
    fake_tq = types.SimpleNamespace(
        kv_list=lambda partition: {partition: listing},
        kv_batch_get=lambda keys, partition_id, select_fields: {f: [store[k][f] for k in keys] for f in select_fields},
    )
    monkeypatch.setattr(ext, "tq", fake_tq)
    calls: list[str] = []
    engine = types.SimpleNamespace(module=model, eval_mode=contextlib.nullcontext)
    worker = types.SimpleNamespace(actor=types.SimpleNamespace(engine=engine))

    def execute(func, data):  # verl's DP_COMPUTE_PROTO_WITH_FUNC on 2 ranks
        calls.append("execute")
        return {"gradnorm": torch.cat([func(worker, c)["gradnorm"] for c in data.chunk(2)])}

    trainer = types.SimpleNamespace(
        actor_rollout_wg=types.SimpleNamespace(world_size=2, execute_with_func_generator=execute),
        checkpoint_manager=types.SimpleNamespace(sleep_replicas=lambda: calls.append("sleep"),
                                                 update_weights=lambda step: calls.append(f"wake{step}")),
        config=OmegaConf.create({"actor_rollout_ref": {"rollout": {"temperature": 1.0}}}),
        global_steps=7,
    )  # fmt: skip
    extension = ext.CuresGradNormExtension(chunk=3)
    extension._handle = trainer  # the ExtensionHandle fields measure uses
    groups = [Group("a", 0, np.array([1.0, 0.0, 1.0])), Group("b", 1, np.array([0.0, 0.0]))]
    out = extension.measure(groups)
    assert calls == ["sleep", "execute", "execute", "wake7"]  # 5 trajectories in chunks of 3
    assert [o.shape for o in out] == [(3,), (2,)]
    for g, norms in zip(groups, out, strict=True):
        for i, got in enumerate(norms):  # trajectory {uid}_{i}_0 is the i-th reward of its group
            t = store[f"{g.handle}_{i}_0"]
            ids = torch.cat([t["prompts"], t["responses"]])
            assert got == pytest.approx(_autograd_head_norm(model, ids, 4, t["response_mask"], 1.0), rel=1e-4)
    with pytest.raises(RuntimeError, match="released before"):
        extension.measure([Group("a", 0, np.array([1.0, 0.0]))])
