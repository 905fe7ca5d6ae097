"""The ``hf`` rollout backend: verl's rollout-server interface served by Hugging Face ``generate`` on the host.

Three pieces, each plugged into the registry verl 0.9.1 resolves rollouts through:
- ``HFRolloutServer`` -- the Ray actor the agent loop talks to (``LLMServerClient.generate`` calls
  ``server.generate.remote(...)``, ``verl/workers/rollout/llm_server.py:146``). It batches concurrent requests
  (``generation.RequestBatcher``), and takes new weights with ``update_weights``. Lifecycle calls (sleep, wake_up,
  kv-cache, abort, profiling) are no-ops: nothing lives on a device.
- ``HFReplica`` -- a ``RolloutReplica`` (``verl/workers/rollout/replica.py:70``) whose ``launch_servers`` starts one
  server per replica; registered as ``RolloutReplicaRegistry.register("hf", ...)``.
- ``HFServerAdapter`` -- the ``BaseRollout`` (``verl/workers/rollout/base.py:29``) that verl builds inside each actor
  worker (``engine_workers.py:667``) from ``_ROLLOUT_REGISTRY[("hf", "async")]``; after every actor update verl's
  naive weight sync (``engine_workers.py:804``) streams the actor's full tensors through it into the server.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from typing import Any

import ray
import torch
from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica, TokenOutput

from verl_ext.cpu.generation import GenRequest, GenResult, RequestBatcher, generate_batch, sampling_key
from verl_ext.cpu.layer_skip import decoder_layers, skipped_layers
from verl_ext.cpu.plugin import ROLLOUT_NAME

logger = logging.getLogger(__name__)

__all__ = ["ROLLOUT_NAME", "HFReplica", "HFRolloutServer", "HFServerAdapter", "server_name"]
# collect concurrent requests this long before running them as one batch (env override for experiments)
BATCH_WINDOW_S = float(os.environ.get("VERL_EXT_HF_BATCH_WINDOW_MS", "20")) / 1000.0


def server_name(replica_rank: int, kind: str = "", suffix: str = "") -> str:
    """Ray actor name of a replica's server; the adapter in the actor worker finds its server by this name."""
    return f"hf_server_{kind + '_' if kind else ''}{replica_rank}{suffix}"


class HFRolloutServer:
    """Token-in/token-out generation server (a Ray async actor) over a Hugging Face causal LM on the host."""

    def __init__(self, config: Any, model_config: Any, replica_rank: int) -> None:
        from transformers import AutoModelForCausalLM
        from verl.utils.config import omega_conf_to_dataclass
        from verl.workers.config import HFModelConfig

        self.config = omega_conf_to_dataclass(config)
        self.model_config = omega_conf_to_dataclass(model_config, dataclass_type=HFModelConfig)
        self.replica_rank = replica_rank
        self.global_steps: int | None = None
        self.weight_updates = 0
        threads = int(os.environ.get("VERL_EXT_HF_ROLLOUT_THREADS", "0")) or (os.cpu_count() or 1)
        torch.set_num_threads(threads)
        torch.manual_seed(int(self.config.seed) + replica_rank)
        dtype = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16}.get(
            str(self.config.dtype), torch.float32
        )
        attn = self.model_config.override_config.get("attn_implementation", "sdpa")
        self.model = AutoModelForCausalLM.from_pretrained(
            self.model_config.local_path,
            torch_dtype=dtype,
            attn_implementation="sdpa" if attn == "flash_attention_2" else attn,
            trust_remote_code=self.model_config.trust_remote_code,
        ).eval()
        tok = self.model_config.tokenizer
        eos = self.model_config.generation_config.eos_token_id if self.model_config.generation_config else None
        eos_ids = {int(e) for e in (eos if isinstance(eos, list) else [eos]) if e is not None}
        if tok.eos_token_id is not None:
            eos_ids.add(int(tok.eos_token_id))
        if not eos_ids:
            raise ValueError(f"{self.model_config.local_path}: neither generation_config nor tokenizer names an EOS")
        self.eos_ids = sorted(eos_ids)
        self.pad_id = int(tok.pad_token_id if tok.pad_token_id is not None else self.eos_ids[0])
        self.max_model_len = int(self.config.max_model_len or (self.config.prompt_length + self.config.response_length))
        self.batcher = RequestBatcher(self._run_batch, window_s=BATCH_WINDOW_S, max_batch=self.config.max_num_seqs)
        # Nested-ReFT: decoder layers skipped while generating (set by the trainer before each step's generation)
        self.skip_layers: list[int] = []
        self._gen_tokens = 0
        self._gen_seconds = 0.0
        logger.info("hf rollout server %d ready (%s, %s threads)", replica_rank, dtype, threads)

    def _run_batch(self, requests: list[GenRequest]) -> list[GenResult]:
        t0 = time.perf_counter()
        with skipped_layers(self.model, self.skip_layers):
            results = generate_batch(self.model, requests, self.pad_id, self.eos_ids)
        self._gen_seconds += time.perf_counter() - t0
        self._gen_tokens += sum(len(r.token_ids) for r in results)
        return results

    def set_skip_layers(self, layers: list[int]) -> int:
        """Nested-ReFT: generate with the decoder layers ``layers`` skipped (``[]``: the full model) until the next
        call; returns the model's number of decoder layers. Resets the generation counters of ``generation_stats``."""
        n = len(decoder_layers(self.model))
        bad = [i for i in layers if not 0 < int(i) < n]
        if bad:
            raise ValueError(f"hf rollout: cannot skip layers {bad} of a {n}-layer model (layer 0 is never skipped)")
        self.skip_layers = sorted(int(i) for i in layers)
        self._gen_tokens, self._gen_seconds = 0, 0.0
        return n

    def generation_stats(self) -> dict[str, float]:
        """Tokens generated and seconds spent in ``generate`` since the last ``set_skip_layers``."""
        return {"tokens": float(self._gen_tokens), "seconds": self._gen_seconds}

    def _max_tokens(self, n_prompt: int, params: dict[str, Any]) -> int:
        """Same budget rule as verl's vLLM server (``vllm_async_server.py:600-620``), clamped to the context."""
        room = self.max_model_len - n_prompt
        if room < 1:
            raise ValueError(f"prompt of {n_prompt} tokens leaves no room in max_model_len={self.max_model_len}")
        if "max_tokens" in params:
            budget = int(params["max_tokens"])
        elif "max_new_tokens" in params:
            budget = int(params["max_new_tokens"])
        else:
            cfg = self.config
            budget = min(cfg.response_length, cfg.prompt_length + cfg.response_length - n_prompt)
        return max(1, min(budget, room))

    async def generate(
        self,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        request_id: str | None = None,
        image_data: Any = None,
        video_data: Any = None,
        **kwargs: Any,
    ) -> TokenOutput:
        """Sample one continuation of ``prompt_ids`` (batched with concurrent calls); vLLM server semantics."""
        if image_data is not None or video_data is not None or kwargs.get("audio_data") is not None:
            raise NotImplementedError("hf rollout: multi-modal inputs are not supported")
        prompt_ids = [int(t) for t in prompt_ids]
        request = GenRequest(
            prompt_ids=prompt_ids,
            max_tokens=self._max_tokens(len(prompt_ids), sampling_params),
            key=sampling_key(sampling_params),
            want_logprobs=bool(sampling_params.get("logprobs", False)),
        )
        result = await self.batcher.submit(request)
        return TokenOutput(
            token_ids=result.token_ids,
            log_probs=result.log_probs,
            stop_reason="completed",
            extra_fields={"global_steps": self.global_steps},
        )

    def update_weights(self, state_dict: dict[str, torch.Tensor], global_steps: int | None = None) -> int:
        """Load the actor's full weights (HF names); returns the number of tensors loaded.

        Names the model does not have raise; missing names are allowed only for tied parameters (e.g. ``lm_head``
        tied to the embeddings, which FSDP's state dict lists once).
        """
        params = dict(self.model.named_parameters(remove_duplicate=False))
        unknown = sorted(set(state_dict) - set(params) - set(dict(self.model.named_buffers())))
        if unknown:
            raise KeyError(f"hf rollout: actor weights not in the rollout model: {unknown[:5]}")
        t0 = time.perf_counter()
        with torch.no_grad():
            for name, tensor in state_dict.items():
                target = params.get(name)
                if target is None:
                    continue
                target.copy_(tensor.to(target.dtype))
        self.weight_updates += 1
        if global_steps is not None:
            self.global_steps = global_steps
        logger.info(
            "hf rollout %d: %d tensors loaded in %.3fs", self.replica_rank, len(state_dict), time.perf_counter() - t0
        )
        return len(state_dict)

    def stats(self) -> dict[str, Any]:
        """For tests and benchmarks: batch sizes run so far, weight updates, weight version."""
        return {
            "batch_sizes": list(self.batcher.batch_sizes),
            "weight_updates": self.weight_updates,
            "global_steps": self.global_steps,
        }

    def param_checksum(self) -> float:
        """Sum of all parameters (tests: did new weights arrive?)."""
        return float(sum(p.detach().double().sum() for p in self.model.parameters()))

    # ---- lifecycle calls verl makes on every backend: nothing is held on a device, so they are no-ops ----
    async def set_global_steps(self, global_steps: int) -> None:
        self.global_steps = global_steps

    async def wake_up(self, tags: list[str] | None = None) -> None:
        return None

    async def sleep(self) -> None:
        return None

    async def clear_kv_cache(self) -> None:
        return None

    async def release_kv_cache(self) -> None:
        return None

    async def resume_kv_cache(self) -> None:
        return None

    async def wait_for_requests_to_drain(self) -> None:
        return None

    async def abort_all_requests(self, reject_request: bool = False, **kwargs: Any) -> dict[str, Any]:
        # the sync trainer never aborts; requests run to completion
        return {"aborted_count": 0, "request_ids": []}

    async def abort_request(self, request_id: str, **kwargs: Any) -> dict[str, Any]:
        return {"aborted": False, "request_id": request_id}

    async def resume_generation(self) -> None:
        return None

    async def start_profile(self, **kwargs: Any) -> None:
        return None

    async def stop_profile(self) -> None:
        return None


class HFReplica(RolloutReplica):
    """One ``HFRolloutServer`` per replica (tensor parallel size 1: one actor rank per replica)."""

    async def launch_servers(self) -> None:
        if self.world_size != 1:
            raise ValueError(
                f"hf rollout needs tensor/data/pipeline parallel size 1 per replica (world size {self.world_size}); "
                "set actor_rollout_ref.rollout.tensor_model_parallel_size=1"
            )
        kind = "reward" if self.is_reward_model else ("teacher" if self.is_teacher_model else "")
        name = server_name(self.replica_rank, kind, self.name_suffix)
        server = (
            ray.remote(HFRolloutServer)
            .options(name=name, num_cpus=0, max_concurrency=self.max_concurrency)
            .remote(config=self.config, model_config=self.model_config, replica_rank=self.replica_rank)
        )
        await server.stats.remote()  # wait until the model is loaded (errors surface here)
        self.servers = [server]
        self._server_handle = server
        self._server_address = f"hf://{name}"

    def rollout_worker_use_gpu(self) -> bool:
        return False


class HFServerAdapter(BaseRollout):
    """Actor-side handle of this rank's ``HFRolloutServer``: forwards the actor's weights after each update."""

    def __init__(self, config: Any, model_config: Any, device_mesh: Any, replica_rank: int = -1) -> None:
        super().__init__(config, model_config, device_mesh)
        rank = int(os.environ.get("RANK", "0"))
        world = self.config.tensor_model_parallel_size * self.config.data_parallel_size
        self.replica_rank = rank // world if replica_rank == -1 else replica_rank
        self._is_sender = rank % world == 0
        self._server: Any = None

    def _server_handle(self) -> Any:
        if self._server is None:
            # the server is launched after the actor workers; look it up lazily
            self._server = ray.get_actor(server_name(self.replica_rank))
        return self._server

    async def resume(self, tags: list[str]) -> None:
        return None

    async def release(self) -> None:
        return None

    async def update_weights(
        self,
        weights: Iterable[tuple[str, torch.Tensor]],
        wire_format: str = "named_tensors",
        global_steps: int | None = None,
        peft_config: Any = None,
        **kwargs: Any,
    ) -> None:
        """Materialise the actor's per-tensor generator and send it to the server in one call.

        Every rank iterates the generator (FSDP's ``full_tensor`` is a collective); only the replica's first rank
        sends. LoRA adapters and delta flushes are not supported on this backend.
        """
        if wire_format != "named_tensors":
            raise NotImplementedError(f"hf rollout supports wire_format='named_tensors' only, got {wire_format!r}")
        if peft_config is not None:
            raise NotImplementedError("hf rollout: LoRA adapter sync is not supported; set model.lora.merge=True")
        state = {name: t.detach().to("cpu").contiguous() for name, t in weights}
        if self._is_sender:
            await self._server_handle().update_weights.remote(state, global_steps)
