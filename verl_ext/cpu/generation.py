"""Batched token-in/token-out sampling with Hugging Face ``generate`` (the engine of the ``hf`` rollout).

verl's agent loop sends one request per trajectory (``rollout.n`` sessions per prompt, each its own request) with
the sampling parameters of ``AgentLoopWorkerTQ.generate_sequences`` (``verl/trainer/ppo/v1/agent_loop_tq.py:64``):
``temperature``, ``top_p``, ``top_k`` (-1 = off), ``repetition_penalty``, ``logprobs`` (bool) and optionally
``max_tokens`` / ``max_new_tokens``. ``RequestBatcher`` collects the requests that arrive within a few
milliseconds; ``generate_batch`` runs each group of requests with equal sampling parameters as ONE left-padded
``generate`` call and returns, per request, the new token ids (cut after the first EOS, EOS included, as vLLM
does) and the log-probability of each under ``softmax(logits / temperature)`` -- the quantity verl's actor
recomputes, so the rollout/actor log-prob mismatch measures weight staleness and numerics only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplingKey:
    """The sampling parameters one ``generate`` call can share (HF has no per-row temperature)."""

    greedy: bool
    temperature: float
    top_p: float
    top_k: int
    repetition_penalty: float


@dataclass
class GenRequest:
    """One trajectory's request: prompt ids, its token budget and its sampling parameters."""

    prompt_ids: list[int]
    max_tokens: int
    key: SamplingKey
    want_logprobs: bool = True


@dataclass
class GenResult:
    token_ids: list[int]
    log_probs: list[float] | None
    finished: bool  # stopped on EOS (False: hit max_tokens)
    extra: dict[str, Any] = field(default_factory=dict)


def sampling_key(params: dict[str, Any]) -> SamplingKey:
    """Normalise verl's sampling dict (vLLM conventions) into a ``SamplingKey``.

    ``temperature == 0`` means greedy (verl's ``apply_greedy_sampling_params``); ``top_k <= 0`` disables top-k.
    Unknown keys other than the ones verl sends raise, so a new verl sampling option is not silently ignored.
    """
    known = {
        "temperature",
        "top_p",
        "top_k",
        "repetition_penalty",
        "logprobs",
        "max_tokens",
        "max_new_tokens",
        "ignore_eos",
        "seed",
    }
    unknown = set(params) - known
    if unknown:
        raise ValueError(f"hf rollout: unsupported sampling parameters {sorted(unknown)}; supported: {sorted(known)}")
    if params.get("ignore_eos"):
        raise ValueError("hf rollout: ignore_eos=True is not supported")
    temperature = float(params.get("temperature", 1.0))
    top_k = int(params.get("top_k", -1))
    return SamplingKey(
        greedy=temperature <= 0.0,
        temperature=temperature if temperature > 0 else 1.0,
        top_p=float(params.get("top_p", 1.0)),
        top_k=top_k if top_k > 0 else 0,
        repetition_penalty=float(params.get("repetition_penalty", 1.0)),
    )


def _left_pad(prompts: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both ``[B, max_len]``, prompts right-aligned (left padding)."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :] = torch.tensor(p, dtype=torch.long)
        mask[i, width - len(p) :] = 1
    return ids, mask


def _cut_at_eos(tokens: list[int], limit: int, eos_ids: set[int]) -> tuple[int, bool]:
    """Length to keep (first EOS included) within ``limit`` tokens, and whether an EOS was hit."""
    for j, t in enumerate(tokens[:limit]):
        if t in eos_ids:
            return j + 1, True
    return min(limit, len(tokens)), False


@torch.no_grad()
def generate_batch(model: Any, requests: Sequence[GenRequest], pad_id: int, eos_ids: Sequence[int]) -> list[GenResult]:
    """Run ``requests`` (all with the same ``SamplingKey``) as one left-padded ``model.generate`` call.

    Shapes: input ``[B, P]`` (P = longest prompt), generated ``[B, T]`` with T <= max(max_tokens). Log-probs are
    ``log_softmax(raw_logits / temperature)`` at each sampled token (``[B, T]``), before top-k/top-p filtering.
    """
    key = requests[0].key
    if any(r.key != key for r in requests):
        raise ValueError("generate_batch needs requests with identical sampling parameters")
    input_ids, attention_mask = _left_pad([r.prompt_ids for r in requests], pad_id)
    gen_kwargs: dict[str, Any] = {
        "do_sample": not key.greedy,
        "num_beams": 1,
        "repetition_penalty": key.repetition_penalty,
    }
    if not key.greedy:
        gen_kwargs.update(temperature=key.temperature, top_p=key.top_p, top_k=key.top_k)
    out = model.generate(
        input_ids=input_ids,
        attention_mask=attention_mask,
        max_new_tokens=max(r.max_tokens for r in requests),
        eos_token_id=list(eos_ids),
        pad_token_id=pad_id,
        output_logits=True,
        return_dict_in_generate=True,
        **gen_kwargs,
    )
    new_tokens = out.sequences[:, input_ids.shape[1] :]  # [B, T]
    logits = torch.stack(out.logits, dim=1).float() / key.temperature  # [B, T, V]
    logp = torch.log_softmax(logits, dim=-1).gather(-1, new_tokens.unsqueeze(-1)).squeeze(-1)  # [B, T]
    eos = set(eos_ids)
    results = []
    for i, req in enumerate(requests):
        toks = new_tokens[i].tolist()
        n, finished = _cut_at_eos(toks, req.max_tokens, eos)
        lps = logp[i, :n].tolist() if req.want_logprobs else None
        results.append(GenResult(token_ids=toks[:n], log_probs=lps, finished=finished))
    return results


class RequestBatcher:
    """Collect concurrent requests for ``window_s`` seconds, then run them as batches in a worker thread.

    ``run_batch(list[GenRequest]) -> list[GenResult]`` is called once per group of equal ``SamplingKey`` (at most
    ``max_batch`` rows each); requests arriving while a batch runs wait for the next one.
    """

    def __init__(
        self, run_batch: Callable[[list[GenRequest]], list[GenResult]], window_s: float = 0.02, max_batch: int = 256
    ) -> None:
        if window_s < 0 or max_batch < 1:
            raise ValueError(f"window_s must be >= 0 and max_batch >= 1, got {window_s}, {max_batch}")
        self._run_batch = run_batch
        self._window_s = window_s
        self._max_batch = max_batch
        self._pending: list[tuple[GenRequest, asyncio.Future]] = []
        self._loop_task: asyncio.Task | None = None
        self.batch_sizes: list[int] = []

    async def submit(self, request: GenRequest) -> GenResult:
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending.append((request, fut))
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        while self._pending:
            await asyncio.sleep(self._window_s)
            taken, self._pending = self._pending, []
            groups: dict[SamplingKey, list[tuple[GenRequest, asyncio.Future]]] = {}
            for item in taken:
                groups.setdefault(item[0].key, []).append(item)
            for items in groups.values():
                for start in range(0, len(items), self._max_batch):
                    await self._run_group(items[start : start + self._max_batch])

    async def _run_group(self, items: list[tuple[GenRequest, asyncio.Future]]) -> None:
        t0 = time.perf_counter()
        try:
            results = await asyncio.to_thread(self._run_batch, [req for req, _ in items])
        except Exception as exc:  # hand the error to every waiting request instead of hanging them
            for _, fut in items:
                if not fut.done():
                    fut.set_exception(exc)
            return
        self.batch_sizes.append(len(items))
        logger.debug("hf rollout: batch of %d in %.2fs", len(items), time.perf_counter() - t0)
        for (_, fut), res in zip(items, results, strict=True):
            if not fut.done():
                fut.set_result(res)
