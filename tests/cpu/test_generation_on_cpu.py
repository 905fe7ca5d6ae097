"""The hf rollout's batched generation: left padding, sampling parameters, log-probs, request batching."""

from __future__ import annotations

import asyncio

import pytest
import torch

from verl_ext.cpu.generation import GenRequest, GenResult, RequestBatcher, generate_batch, sampling_key


@pytest.fixture(scope="module")
def lm():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from verl_ext.testing.tiny import build_tiny_model

    path = build_tiny_model(num_layers=2, hidden_size=32, heads=4, kv_heads=2, intermediate=64, seed=3)
    model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32, attn_implementation="sdpa").eval()
    tok = AutoTokenizer.from_pretrained(path)
    return model, tok


def _prompts(tok) -> list[list[int]]:
    texts = ["1+2 = ?", "a much longer prompt about 12*34 = ? please", "7"]
    return [tok(t)["input_ids"] for t in texts]


def _greedy(n: int) -> GenRequest:
    return GenRequest(prompt_ids=[], max_tokens=n, key=sampling_key({"temperature": 0}))


def test_sampling_key_follows_vllm_conventions() -> None:
    k = sampling_key({"temperature": 0, "top_p": 1.0, "top_k": -1, "repetition_penalty": 1.0, "logprobs": True})
    assert k.greedy and k.top_k == 0
    k = sampling_key({"temperature": 0.7, "top_p": 0.9, "top_k": 5})
    assert (k.greedy, k.temperature, k.top_p, k.top_k) == (False, 0.7, 0.9, 5)
    with pytest.raises(ValueError, match="unsupported sampling parameters \\['best_of'\\]"):
        sampling_key({"temperature": 1.0, "best_of": 2})


def test_batched_left_padded_equals_one_by_one(lm) -> None:
    model, tok = lm
    eos = [tok.eos_token_id]
    reqs = [GenRequest(p, 6, sampling_key({"temperature": 0})) for p in _prompts(tok)]
    batched = generate_batch(model, reqs, tok.pad_token_id, eos)
    single = [generate_batch(model, [r], tok.pad_token_id, eos)[0] for r in reqs]
    assert [b.token_ids for b in batched] == [s.token_ids for s in single]
    for b, s in zip(batched, single):
        assert torch.allclose(torch.tensor(b.log_probs), torch.tensor(s.log_probs), atol=1e-4)


def test_log_probs_match_a_forward_pass(lm) -> None:
    """What verl's actor recomputes: log softmax(logits / T) of each sampled token given the prefix."""
    model, tok = lm
    prompt = _prompts(tok)[1]
    torch.manual_seed(0)
    req = GenRequest(prompt, 8, sampling_key({"temperature": 0.8, "top_p": 0.95, "top_k": 20}))
    out = generate_batch(model, [req], tok.pad_token_id, [tok.eos_token_id])[0]
    ids = torch.tensor([prompt + out.token_ids])
    with torch.no_grad():
        logits = model(ids).logits[0, len(prompt) - 1 : -1] / 0.8
    expected = torch.log_softmax(logits, -1).gather(-1, torch.tensor(out.token_ids)[:, None]).squeeze(-1)
    assert torch.allclose(torch.tensor(out.log_probs), expected, atol=1e-4)


def test_max_tokens_top_k_and_eos(lm) -> None:
    model, tok = lm
    prompts = _prompts(tok)
    reqs = [GenRequest(p, n, sampling_key({"temperature": 0})) for p, n in zip(prompts, (1, 3, 5))]
    outs = generate_batch(model, reqs, tok.pad_token_id, [tok.eos_token_id])
    for out, budget in zip(outs, (1, 3, 5)):
        assert len(out.token_ids) == budget or (out.finished and len(out.token_ids) < budget)
        assert len(out.log_probs) == len(out.token_ids)
    # top_k=1 sampling is greedy decoding
    sampled = generate_batch(
        model,
        [GenRequest(prompts[0], 5, sampling_key({"temperature": 1.0, "top_k": 1}))],
        tok.pad_token_id,
        [tok.eos_token_id],
    )[0]
    greedy = generate_batch(
        model, [GenRequest(prompts[0], 5, sampling_key({"temperature": 0}))], tok.pad_token_id, [tok.eos_token_id]
    )[0]
    assert sampled.token_ids == greedy.token_ids
    # an EOS ends the response and is kept (vLLM returns the stop token)
    first = greedy.token_ids[0]
    cut = generate_batch(
        model, [GenRequest(prompts[0], 5, sampling_key({"temperature": 0}))], tok.pad_token_id, [first]
    )[0]
    assert cut.token_ids == [first] and cut.finished


def test_batcher_runs_concurrent_requests_as_one_batch() -> None:
    calls: list[list[int]] = []

    def run(reqs: list[GenRequest]) -> list[GenResult]:
        calls.append([r.max_tokens for r in reqs])
        return [GenResult([r.max_tokens], [0.0], True) for r in reqs]

    async def main() -> list[GenResult]:
        batcher = RequestBatcher(run, window_s=0.01)
        greedy, hot = sampling_key({"temperature": 0}), sampling_key({"temperature": 1.0})
        reqs = [GenRequest([1], i, greedy if i < 6 else hot) for i in range(8)]
        return await asyncio.gather(*(batcher.submit(r) for r in reqs))

    results = asyncio.run(main())
    assert [r.token_ids for r in results] == [[i] for i in range(8)]
    assert sorted(map(sorted, calls)) == [[0, 1, 2, 3, 4, 5], [6, 7]]  # one call per sampling key


def test_batcher_propagates_errors() -> None:
    def boom(reqs: list[GenRequest]) -> list[GenResult]:
        raise RuntimeError("engine failed")

    async def main() -> None:
        await RequestBatcher(boom).submit(_greedy(1))

    with pytest.raises(RuntimeError, match="engine failed"):
        asyncio.run(main())
