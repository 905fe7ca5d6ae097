"""Generation backends behind one small interface: ``vllm`` (GPU) and ``hf`` (transformers ``generate``, CPU-friendly).

A backend turns chat-message prompts into k sampled responses each, and says which ones hit the token limit
(truncated responses score 0 under the project's reward rule).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger(__name__)

__all__ = ["Generation", "GenerationBackend", "HFBackend", "VLLMBackend", "make_backend", "render_prompt"]

Messages = Sequence[dict[str, str]]


@dataclass(frozen=True)
class Generation:
    """One response: decoded text (special tokens removed) and whether it stopped at the token limit.

    ``token_ids`` are the sampled ids up to and including the stop token (what the policy is trained on); the
    offline pilots (``verl_ext.pilot``) take gradient norms of them. Empty when a backend does not report them.
    """

    text: str
    truncated: bool
    token_ids: tuple[int, ...] = ()


class GenerationBackend(Protocol):
    """``generate(prompts, n, params)`` returns, per prompt, n ``Generation`` objects.

    ``params`` holds ``do_sample``, ``temperature``, ``top_p``, ``top_k`` (−1 = off) and ``max_new_tokens``
    (``DecodingProfile.for_k``).
    """

    def generate(self, prompts: Sequence[Messages], n: int, params: dict[str, Any]) -> list[list[Generation]]: ...


def render_prompt(tokenizer: Any, messages: Messages, strip_final_period: bool = False) -> str:
    """Apply the model's chat template (generation prompt appended), as verl's RL dataset does in training.

    A Llama 3.x template gets the paper's fixed ``date_string`` (``verl_ext.data.templates.chat_template_kwargs_for``),
    as training passes it through ``data.apply_chat_template_kwargs``.
    """
    from verl_ext.data.templates import chat_template_kwargs_for

    msgs = [dict(m) for m in messages]
    if strip_final_period and msgs and msgs[-1].get("role") == "user":
        msgs[-1]["content"] = msgs[-1]["content"].rstrip().removesuffix(".")
    kwargs = chat_template_kwargs_for(tokenizer)
    return tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False, **kwargs)


class HFBackend:
    """transformers ``generate`` with left padding, batched over prompts; for tiny models on CPU and debugging."""

    def __init__(self, model_path: str, batch_size: int = 8, seed: int = 0, dtype: str = "float32",
                 strip_final_period: bool = False) -> None:  # fmt: skip
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path, padding_side="left")
        if self.tokenizer.pad_token_id is None:  # left padding needs a pad id; eos is the usual stand-in
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype)).eval()
        self.batch_size = batch_size
        self.seed = seed
        self.strip_final_period = strip_final_period
        self.eos_ids = self._eos_ids()

    def _eos_ids(self) -> list[int]:
        ids = self.model.generation_config.eos_token_id
        ids = [ids] if isinstance(ids, int) else list(ids or [])
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        if not ids:
            raise ValueError("model has no eos_token_id in generation_config or tokenizer; set one to evaluate")
        return ids

    def _sampling_kwargs(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params["do_sample"]:
            return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        top_k = int(params["top_k"])
        return {"do_sample": True, "temperature": float(params["temperature"]), "top_p": float(params["top_p"]),
                "top_k": top_k if top_k > 0 else None}  # fmt: skip

    def _split(self, row: Any) -> Generation:
        """Cut a generated row at its first eos; no eos within the budget means truncated."""
        tokens = row.tolist()
        stop = next((i for i, t in enumerate(tokens) if t in self.eos_ids), None)
        kept = tokens if stop is None else tokens[:stop]
        ids = tuple(tokens if stop is None else tokens[: stop + 1])  # keep the eos, as vLLM's token_ids do
        return Generation(self.tokenizer.decode(kept, skip_special_tokens=True), truncated=stop is None, token_ids=ids)

    def generate(self, prompts: Sequence[Messages], n: int, params: dict[str, Any]) -> list[list[Generation]]:
        import torch

        torch.manual_seed(self.seed)
        texts = [render_prompt(self.tokenizer, p, self.strip_final_period) for p in prompts]
        out: list[list[Generation]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(texts[start : start + self.batch_size], return_tensors="pt", padding=True,
                                   add_special_tokens=False)  # fmt: skip
            with torch.no_grad():
                seqs = self.model.generate(
                    **batch,
                    max_new_tokens=int(params["max_new_tokens"]),
                    num_return_sequences=n,
                    pad_token_id=self.tokenizer.pad_token_id,
                    eos_token_id=self.eos_ids,
                    **self._sampling_kwargs(params),
                )
            new = seqs[:, batch["input_ids"].shape[1] :]  # left padding: every prompt ends at the same column
            gens = [self._split(row) for row in new]
            out.extend(gens[i * n : (i + 1) * n] for i in range(len(gens) // n))
        return out


class VLLMBackend:
    """vLLM offline ``LLM.generate`` (GPU). vLLM is imported lazily so CPU machines never need it."""

    def __init__(self, model_path: str, seed: int = 0, tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.85, max_model_len: int | None = None,
                 strip_final_period: bool = False) -> None:  # fmt: skip
        from vllm import LLM

        self.llm = LLM(model=model_path, seed=seed, tensor_parallel_size=tensor_parallel_size,
                       gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len)  # fmt: skip
        self.tokenizer = self.llm.get_tokenizer()
        self.seed = seed
        self.strip_final_period = strip_final_period

    def generate(self, prompts: Sequence[Messages], n: int, params: dict[str, Any]) -> list[list[Generation]]:
        from vllm import SamplingParams

        greedy = not params["do_sample"]
        sampling = SamplingParams(
            n=n,
            temperature=0.0 if greedy else float(params["temperature"]),
            top_p=1.0 if greedy else float(params["top_p"]),
            top_k=-1 if greedy else int(params["top_k"]),
            max_tokens=int(params["max_new_tokens"]),
            seed=self.seed,
        )
        inputs = [
            {
                "prompt_token_ids": self.tokenizer.encode(
                    render_prompt(self.tokenizer, p, self.strip_final_period), add_special_tokens=False
                )
            }  # fmt: skip
            for p in prompts
        ]
        outputs = self.llm.generate(inputs, sampling_params=sampling)
        return [
            [Generation(c.text, truncated=c.finish_reason == "length", token_ids=tuple(c.token_ids)) for c in o.outputs]
            for o in outputs
        ]


def make_backend(name: str, model_path: str, **kwargs: Any) -> GenerationBackend:
    """Build the backend called ``name`` (``hf`` or ``vllm``) for ``model_path``."""
    if name == "hf":
        return HFBackend(model_path, **kwargs)
    if name == "vllm":
        return VLLMBackend(model_path, **kwargs)
    raise ValueError(f"unknown backend {name!r}; choose 'hf' (CPU / small models) or 'vllm' (GPU)")
