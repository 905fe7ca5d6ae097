"""Static checks of a composed experiment: installable engine and attention, lengths, GPU memory per GPU.

Run on CPU over every ``configs/experiment/**`` overlay by ``scripts/check_rows.py`` (see ``docs/cluster.md``):

- **Packages.** The rollout engine (``actor_rollout_ref.rollout.name``) and the training attention implementation
  (``actor_rollout_ref.model.override_config.attn_implementation``; verl 0.9.1's ``HFModelConfig`` defaults it to
  ``flash_attention_2``) each need distributions that must be pinned in that engine's lock file
  (``requirements/gpu-vllm.txt`` or ``requirements/gpu-sglang.txt``). PCL's value model is loaded by verl's
  ``load_valuehead_model``, which always asks for ``flash_attention_2`` and falls back to ``trl``; ``model.use_liger``
  needs ``liger-kernel``.
- **Lengths.** ``data.max_prompt_length + data.max_response_length`` must fit the model's
  ``max_position_embeddings`` (public ``config.json`` of each checkpoint, :data:`MODELS`), and one full sequence must
  fit the token budget of a dynamic-batch micro-batch (``ppo_max_token_len_per_gpu``), or verl cannot place it.
- **Memory.** An *estimate* (not a measurement) of the peak memory of one GPU of the colocated (hybrid-engine) run,
  the larger of its two phases:

  * rollout: the policy's FSDP shard that stays resident (fp32 parameters and the two Adam moments, 12 bytes per
    parameter / W, unless offloaded) + the reference model's shard (``model_dtype`` bytes / W) + the inference
    engine's reservation ``gpu_memory_utilization`` x 80 GiB (vLLM and SGLang both size their pool from the total);
  * training: the policy shard with gradients (16 bytes per parameter / W) + the reference shard + activations of
    one dynamic micro-batch of T = ``ppo_max_token_len_per_gpu`` tokens with gradient checkpointing (T x hidden x 2
    bytes per layer, one layer recomputed at T x (4 hidden + 3 intermediate) x 2 bytes, the logits at T x vocab x 10
    bytes: bf16 logits, their fp32 log-softmax and its gradient) + PCL's value model while it trains (its fp32
    parameters and gradients sharded, optimizer on the CPU when offloaded, activations without the vocabulary head).

  W is the number of GPUs FSDP shards over (``fsdp_size``, or every GPU of the run). Each training process adds
  1.5 GiB of CUDA context and NCCL buffers. The row passes when the peak is at most 80 GiB (A100/H100 80 GB).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "ATTENTION_PACKAGES",
    "ENGINE_LOCKS",
    "ENGINE_PACKAGES",
    "GPU_MEMORY_GIB",
    "MODELS",
    "MemoryEstimate",
    "ModelSpec",
    "VALUE_MODEL_PACKAGES",
    "RowReport",
    "check_row",
    "estimate_memory",
    "format_table",
    "normalize_name",
    "read_lock",
]

GiB = 1024**3
GPU_MEMORY_GIB = 80.0
PROCESS_OVERHEAD_GIB = 1.5


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """The fields of a checkpoint's public ``config.json`` the checks need."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tie_embeddings: bool
    max_position_embeddings: int
    source: str

    @property
    def num_params(self) -> int:
        """Parameters of a dense decoder (attention q/k/v/o, SwiGLU MLP, two RMSNorms per layer, embeddings)."""
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        attention = self.hidden * q + 2 * self.hidden * kv + q * self.hidden
        mlp = 3 * self.hidden * self.intermediate
        embeddings = self.vocab * self.hidden * (1 if self.tie_embeddings else 2)
        return self.layers * (attention + mlp + 2 * self.hidden) + embeddings + self.hidden


def _hf(model_id: str) -> str:
    return f"https://huggingface.co/{model_id}/blob/main/config.json"


# From each checkpoint's config.json on the Hugging Face hub (the URL in ``source``).
MODELS: dict[str, ModelSpec] = {
    "Qwen/Qwen3-1.7B-Base": ModelSpec(2048, 28, 16, 8, 128, 6144, 151936, True, 32768, _hf("Qwen/Qwen3-1.7B-Base")),
    "Qwen/Qwen3-4B-Base": ModelSpec(2560, 36, 32, 8, 128, 9728, 151936, True, 32768, _hf("Qwen/Qwen3-4B-Base")),
    "Qwen/Qwen3-8B-Base": ModelSpec(4096, 36, 32, 8, 128, 12288, 151936, False, 32768, _hf("Qwen/Qwen3-8B-Base")),
    "meta-llama/Llama-3.2-3B-Instruct": ModelSpec(
        3072, 28, 24, 8, 128, 8192, 128256, True, 131072, _hf("meta-llama/Llama-3.2-3B-Instruct")
    ),
    "Qwen/Qwen2.5-Math-1.5B": ModelSpec(1536, 28, 12, 2, 128, 8960, 151936, True, 4096, _hf("Qwen/Qwen2.5-Math-1.5B")),
    "Qwen/Qwen2.5-Math-7B": ModelSpec(3584, 28, 28, 4, 128, 18944, 152064, False, 4096, _hf("Qwen/Qwen2.5-Math-7B")),
}

# lock file of each rollout engine's GPU environment (the two engines do not co-install)
ENGINE_LOCKS = {"vllm": "requirements/gpu-vllm.txt", "sglang": "requirements/gpu-sglang.txt"}
ENGINE_PACKAGES = {"vllm": ("vllm",), "sglang": ("sglang",)}
# Hugging Face attention implementations verl can be asked for, and the distributions each needs beyond torch
ATTENTION_PACKAGES: dict[str, tuple[str, ...]] = {
    "flash_attention_2": ("flash-attn",),
    "sdpa": (),
    "eager": (),
    "flex_attention": (),
}
# what verl's value-model loader imports beyond the attention kernel (PCL rows)
VALUE_MODEL_PACKAGES = ("trl",)
_BYTES = {"fp32": 4, "float32": 4, "bf16": 2, "bfloat16": 2, "fp16": 2, "float16": 2}


def normalize_name(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: str | Path) -> dict[str, str]:
    """``{normalised name: version}`` of a pip-compile / ``uv pip compile`` lock (``name[extras]==version``)."""
    pins: dict[str, str] = {}
    for raw in Path(path).read_text().splitlines():
        line = raw.split("#", 1)[0].strip().rstrip("\\").strip()
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*===?\s*([^\s;]+)", line)
        if match:
            pins[normalize_name(match.group(1))] = match.group(3)
    return pins


def _select(cfg: Any, key: str, default: Any = None) -> Any:
    from omegaconf import OmegaConf

    value = OmegaConf.select(cfg, key, default=default)
    return default if value is None else value


@dataclasses.dataclass
class MemoryEstimate:
    """Per-GPU estimate in GiB; ``peak`` is the larger phase (module docstring)."""

    policy: float
    reference: float
    value_model: float
    activations: float
    engine: float
    overhead: float
    rollout_phase: float
    training_phase: float

    @property
    def peak(self) -> float:
        return max(self.rollout_phase, self.training_phase)


def estimate_memory(cfg: Any, spec: ModelSpec) -> MemoryEstimate:
    """GPU memory per GPU of one composed run (module docstring for the model and its assumptions)."""
    world = int(_select(cfg, "trainer.nnodes", 1)) * int(_select(cfg, "trainer.n_gpus_per_node", 8))
    params = spec.num_params
    actor = "actor_rollout_ref.actor.fsdp_config"
    shard = int(_select(cfg, f"{actor}.fsdp_size", -1))
    shard = world if shard <= 0 else shard
    master = _BYTES[str(_select(cfg, f"{actor}.model_dtype", "fp32"))]
    params_resident = 0 if _select(cfg, f"{actor}.param_offload", False) else master
    optim_resident = 0 if _select(cfg, f"{actor}.optimizer_offload", False) else 8
    policy_rollout = params * (params_resident + optim_resident) / shard / GiB
    policy_train = params * (master + master + optim_resident) / shard / GiB  # params and grads on GPU to train

    from verl.trainer.ppo.utils import need_reference_policy

    reference = 0.0
    if need_reference_policy(cfg) and not _select(cfg, "actor_rollout_ref.ref.fsdp_config.param_offload", False):
        ref_bytes = _BYTES[str(_select(cfg, "actor_rollout_ref.ref.fsdp_config.model_dtype", "fp32"))]
        reference = params * ref_bytes / shard / GiB

    tokens = int(_select(cfg, "actor_rollout_ref.actor.ppo_max_token_len_per_gpu", 16384))
    if not _select(cfg, "actor_rollout_ref.actor.use_dynamic_bsz", False):
        micro = int(_select(cfg, "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu", 1) or 1)
        tokens = micro * (int(cfg.data.max_prompt_length) + int(cfg.data.max_response_length))
    per_layer = tokens * spec.hidden * 2
    recompute = tokens * (4 * spec.hidden + 3 * spec.intermediate) * 2
    checkpointing = bool(_select(cfg, "actor_rollout_ref.model.enable_gradient_checkpointing", False))
    layers = spec.layers * (per_layer if checkpointing else per_layer + recompute) + (recompute if checkpointing else 0)
    activations = (layers + tokens * spec.vocab * 10) / GiB

    value_model, processes = 0.0, 1
    value = _select(cfg, "curriculum.value_model")
    if value is not None and value.get("enable", True):
        processes += 1
        v_fsdp = "curriculum.value_model.fsdp"
        v_dtype = _BYTES[str(_select(cfg, f"{v_fsdp}.model_dtype", "fp32"))]
        v_optim = 0 if _select(cfg, f"{v_fsdp}.optimizer_offload", False) else 8
        v_tokens = int(_select(cfg, "curriculum.value_model.ppo_max_token_len_per_gpu", 16384))
        v_acts = v_tokens * spec.hidden * 2 * spec.layers + v_tokens * (4 * spec.hidden + 3 * spec.intermediate) * 2
        value_model = (params * (2 * v_dtype + v_optim) / world + v_acts) / GiB

    engine = float(_select(cfg, "actor_rollout_ref.rollout.gpu_memory_utilization", 0.5)) * GPU_MEMORY_GIB
    overhead = PROCESS_OVERHEAD_GIB * processes
    rollout_phase = policy_rollout + reference + engine + overhead
    training_phase = policy_train + reference + max(activations, value_model) + overhead
    return MemoryEstimate(policy_train, reference, value_model, activations, engine, overhead, rollout_phase,
                          training_phase)  # fmt: skip


@dataclasses.dataclass
class RowReport:
    """What :func:`check_row` found for one experiment; ``problems`` is empty when every check passes."""

    experiment: str
    model: str
    engine: str
    attention: str
    lock: str
    packages: dict[str, str | None]
    context: int
    max_position_embeddings: int
    memory: MemoryEstimate | None
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_row(
    experiment: str, cfg: Any, repo: str | Path, locks: Mapping[str, Mapping[str, str] | None] | None = None
) -> RowReport:
    """Run every static check on one resolved experiment config.

    Args:
        experiment: ``<table>/<row>`` (for the report).
        cfg: the composed, resolved config.
        repo: repository root; without ``locks`` the engine's lock is read from ``<repo>/<ENGINE_LOCKS[engine]>``.
        locks: the locks to check against, by engine (``read_lock`` results; ``None`` or no entry: that lock is
            missing). When given, nothing is read from disk.
    """
    problems: list[str] = []
    hf_id = str(_select(cfg, "run.hf_id", ""))
    engine = str(_select(cfg, "actor_rollout_ref.rollout.name", ""))
    attention = str(_select(cfg, "actor_rollout_ref.model.override_config.attn_implementation", "flash_attention_2"))

    spec = MODELS.get(hf_id)
    if spec is None:
        problems.append(f"run.hf_id={hf_id!r} has no entry in the model table; known: {', '.join(MODELS)}")

    needed: list[str] = []
    if engine not in ENGINE_PACKAGES:
        problems.append(f"actor_rollout_ref.rollout.name={engine!r}; GPU engines: {', '.join(ENGINE_PACKAGES)}")
    else:
        needed += ENGINE_PACKAGES[engine]
    if attention not in ATTENTION_PACKAGES:
        problems.append(
            f"actor_rollout_ref.model.override_config.attn_implementation={attention!r}; "
            f"valid: {', '.join(ATTENTION_PACKAGES)}"
        )
    else:
        needed += ATTENTION_PACKAGES[attention]
    value = _select(cfg, "curriculum.value_model")
    if value is not None and value.get("enable", True):
        # verl's FSDP engine loads a value model with verl.utils.model.load_valuehead_model, which asks for
        # attn_implementation="flash_attention_2" whatever override_config says and falls back to trl's value head
        needed += [p for p in (*ATTENTION_PACKAGES["flash_attention_2"], *VALUE_MODEL_PACKAGES) if p not in needed]
    if _select(cfg, "actor_rollout_ref.model.use_liger", False):
        needed.append("liger-kernel")
    lock_rel = ENGINE_LOCKS.get(engine, "")
    packages: dict[str, str | None] = {}
    if lock_rel:
        if locks is not None:
            pins = locks.get(engine)
        else:
            lock_path = Path(repo) / lock_rel
            pins = read_lock(lock_path) if lock_path.is_file() else None
        if pins is None:
            problems.append(f"{lock_rel} (the lock of engine {engine!r}) does not exist")
        else:
            packages = {name: pins.get(normalize_name(name)) for name in needed}
            missing = [name for name, version in packages.items() if version is None]
            if missing:
                problems.append(
                    f"{lock_rel} pins no {', '.join(missing)} (needed by {experiment}: engine {engine}, attention "
                    f"{attention}{', PCL value model' if value is not None and value.get('enable', True) else ''})"
                )

    prompt, response = int(cfg.data.max_prompt_length), int(cfg.data.max_response_length)
    context = prompt + response
    max_pos = spec.max_position_embeddings if spec else 0
    if spec and context > max_pos:
        problems.append(
            f"data.max_prompt_length + data.max_response_length = {context} > max_position_embeddings {max_pos} "
            f"of {hf_id}"
        )
    max_model_len = _select(cfg, "actor_rollout_ref.rollout.max_model_len")
    if spec and max_model_len is not None and int(max_model_len) > max_pos:
        problems.append(f"actor_rollout_ref.rollout.max_model_len={max_model_len} > max_position_embeddings {max_pos}")
    for key in (
        "actor_rollout_ref.actor.ppo_max_token_len_per_gpu",
        "actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu",
    ):
        budget = _select(cfg, key)
        if budget is not None and int(budget) < context:
            problems.append(f"{key}={budget} < one full sequence ({context} tokens)")
    v_budget = _select(cfg, "curriculum.value_model.ppo_max_token_len_per_gpu")
    if _select(cfg, "curriculum.value_model") is not None and v_budget is not None and int(v_budget) < prompt:
        problems.append(f"curriculum.value_model.ppo_max_token_len_per_gpu={v_budget} < max_prompt_length {prompt}")

    memory = estimate_memory(cfg, spec) if spec else None
    if memory is not None and memory.peak > GPU_MEMORY_GIB:
        problems.append(
            f"estimated peak {memory.peak:.1f} GiB per GPU > {GPU_MEMORY_GIB:.0f} GiB (rollout phase "
            f"{memory.rollout_phase:.1f}, training phase {memory.training_phase:.1f}); lower "
            "actor_rollout_ref.rollout.gpu_memory_utilization or ppo_max_token_len_per_gpu, or offload"
        )
    return RowReport(experiment, hf_id, engine, attention, lock_rel, packages, context, max_pos, memory, problems)


def format_table(reports: Iterable[RowReport]) -> str:
    """Markdown table: one row per experiment, the memory columns in GiB per GPU."""
    head = ("| experiment | engine | attention | lock pins | ctx / max pos | policy | ref | value | act | engine | "
            "rollout | train | peak | ok |")  # fmt: skip
    lines = [head, "|" + "---|" * 14]
    for r in reports:
        pins = ", ".join(f"{k}=={v}" if v else f"{k} MISSING" for k, v in r.packages.items()) or "-"
        m = r.memory
        mem = (
            [f"{m.policy:.1f}", f"{m.reference:.1f}", f"{m.value_model:.1f}", f"{m.activations:.1f}", f"{m.engine:.0f}",
             f"{m.rollout_phase:.1f}", f"{m.training_phase:.1f}", f"{m.peak:.1f}"]
            if m else ["-"] * 8
        )  # fmt: skip
        cells = [r.experiment, r.engine, r.attention, pins, f"{r.context} / {r.max_position_embeddings}", *mem,
                 "yes" if r.ok else "NO: " + "; ".join(r.problems)]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
