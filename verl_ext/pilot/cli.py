"""Shared command-line plumbing of the offline passes: arguments, backend construction, the sample → score step.

GPU path: vLLM's offline ``LLM`` API through ``verl_ext.eval.backends.VLLMBackend``. Not verl's standalone
rollout servers (``main_generation_server``): the offline API runs the same vLLM engine with every sampling
parameter forwarded (including top_k, which that script drops) and scores with the training reward
(docs/methods/prefilter.md).
"""

from __future__ import annotations

import argparse
import gc
import logging
from typing import Any

import numpy as np

from verl_ext.eval.backends import GenerationBackend, make_backend
from verl_ext.pilot.gradients import load_policy, rollout_grad_norms
from verl_ext.pilot.provenance import Stopwatch, model_hash
from verl_ext.pilot.rollouts import PromptSet, Rollouts, SamplingSpec, load_prompts, sample_and_score, training_scorer
from verl_ext.provenance import build_provenance

logger = logging.getLogger(__name__)

__all__ = [
    "add_common_args",
    "add_grad_args",
    "build_backend",
    "free_memory",
    "grad_pass",
    "provenance",
    "run_sampling",
    "sampling_spec",
]


def add_common_args(parser: argparse.ArgumentParser, n_flag: str, n_default: int, seed: int, max_new: int) -> None:
    """Data/model/backend/sampling flags; ``n_flag`` names the responses-per-prompt flag (--n-pre, --k, --rollouts)."""
    parser.add_argument("--data", required=True, help="prepared contract parquet (extra_info.index = row position)")
    parser.add_argument("--model", required=True, help="Hugging Face model folder (base or merged weights)")
    parser.add_argument("--backend", choices=["vllm", "hf"], default="vllm", help="vllm (GPU) or hf (CPU, tiny)")
    parser.add_argument(n_flag, dest="n", type=int, default=n_default, help="responses per prompt")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=-1, help="-1 = off")
    parser.add_argument("--max-new-tokens", type=int, default=max_new, help="response limit of training")
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--hf-batch-size", type=int, default=8, help="prompts per generate call (hf backend)")
    parser.add_argument("--tensor-parallel-size", type=int, default=1, help="vllm backend")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.85, help="vllm backend")
    parser.add_argument("--max-model-len", type=int, default=None, help="vllm backend (prompt + response limit)")
    parser.add_argument("--reward-timeout", type=float, default=None, help="seconds per math-verify call")
    parser.add_argument("--log-level", default="INFO")


def sampling_spec(args: argparse.Namespace) -> SamplingSpec:
    """The ``SamplingSpec`` of parsed arguments."""
    return SamplingSpec(n=args.n, temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                        max_new_tokens=args.max_new_tokens, seed=args.seed)  # fmt: skip


def build_backend(args: argparse.Namespace, strip_final_period: bool = False) -> GenerationBackend:
    """The eval backend named by ``--backend``, seeded with ``--seed``."""
    if args.backend == "hf":
        return make_backend("hf", args.model, batch_size=args.hf_batch_size, seed=args.seed,
                            strip_final_period=strip_final_period)  # fmt: skip
    return make_backend("vllm", args.model, seed=args.seed, tensor_parallel_size=args.tensor_parallel_size,
                        gpu_memory_utilization=args.gpu_memory_utilization, max_model_len=args.max_model_len,
                        strip_final_period=strip_final_period)  # fmt: skip


def free_memory() -> None:
    """Collect garbage and empty the CUDA cache (after dropping the sampler, before the autograd pass)."""
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_sampling(args: argparse.Namespace, strip_final_period: bool = False) -> tuple[PromptSet, Rollouts, Any]:
    """Load ``--data``, sample ``n`` responses per prompt with ``--backend`` and score them (training reward).

    Returns the prompts, the scored rollouts and the sampler's tokenizer (reused by the gradient pass, so the
    prompt ids are rendered by the very tokenizer that sampled).
    """
    prompts = load_prompts(args.data)
    backend = build_backend(args, strip_final_period)
    rollouts = sample_and_score(backend, prompts, sampling_spec(args), training_scorer(args.reward_timeout))
    tokenizer = backend.tokenizer
    del backend  # the HF model of the gradient pass needs the GPU memory vLLM held
    free_memory()
    return prompts, rollouts, tokenizer


def add_grad_args(parser: argparse.ArgumentParser) -> None:
    """Flags of the per-rollout gradient pass."""
    parser.add_argument("--grad-dtype", default=None, help="HF dtype of the gradient pass (default bf16 on GPU, "
                        "float32 on CPU)")  # fmt: skip
    parser.add_argument("--grad-param", default="embed_tokens", help="parameter-name substring of W")


def grad_pass(args: argparse.Namespace, prompts: PromptSet, rollouts: Rollouts, tokenizer: Any,
              select: np.ndarray | None, strip_final_period: bool = False) -> np.ndarray:  # fmt: skip
    """Per-rollout ‖∇_W(−Σ log π)‖ (P, n) on the HF weights of ``--model``; NaN where ``select`` is False."""
    import torch

    dtype = args.grad_dtype or ("bfloat16" if torch.cuda.is_available() else "float32")
    model = load_policy(args.model, dtype)
    norms = rollout_grad_norms(model, tokenizer, prompts.messages, rollouts.generations, select,
                               strip_final_period, args.grad_param)  # fmt: skip
    del model
    free_memory()
    return norms


def provenance(args: argparse.Namespace, watch: Stopwatch, **extra: Any) -> dict[str, Any]:
    """Report fields: the pass's provenance record (``verl_ext.provenance``: commit, dirty flag, versions, command,
    arguments, the ``--data`` file's meta), the model hash, backend, sampling parameters, seed and measured hours."""
    spec = sampling_spec(args)
    return build_provenance(
        "pilot",
        config=args,
        data_files={"data": args.data},
        data=str(args.data),
        model=str(args.model),
        model_hash=model_hash(args.model),
        backend=args.backend,
        sampling={**spec.params(), "n": spec.n},
        seed=spec.seed,
        **watch.summary(),
        **extra,
    )
