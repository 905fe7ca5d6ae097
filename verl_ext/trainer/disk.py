"""Disk a run's checkpoints need: parameter counts of the six models and verl's FSDP checkpoint contents.

A ``global_step_N`` folder holds, per trained model, verl's FSDP shards (``FSDPCheckpointManager.save_checkpoint``
with ``checkpoint.save_contents = [model, optimizer, extra]``, verl's default): the fp32 parameters
(``engine.model_dtype: fp32``, 4 bytes each) and AdamW's two fp32 moments (8 bytes each), so 12 bytes per
parameter; ``extra`` (scheduler, RNG), the ``huggingface/`` config and tokenizer, ``data.pt`` and the curriculum
state are megabytes. PCL rows add the value model (same architecture, token-classification head instead of the LM
head; PCL §3). With retention K (``trainer.max_actor_ckpt_to_keep``) and the best-validation folder, at most K + 1
folders are kept, and one more exists while a new save completes (old folders are deleted after it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["ARCHITECTURES", "Architecture", "DiskNeed", "disk_need", "BYTES_PER_PARAM"]

# fp32 weights (4) + AdamW exp_avg and exp_avg_sq in fp32 (4 + 4)
BYTES_PER_PARAM = 12


@dataclasses.dataclass(frozen=True)
class Architecture:
    """The ``config.json`` fields that fix a decoder's parameter count (public model cards on the Hugging Face hub)."""

    hidden: int
    layers: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool
    qkv_bias: bool = False  # Qwen2 family
    qk_norm: bool = False  # Qwen3 family

    def params(self, lm_head: bool = True) -> int:
        """Parameters of the causal LM (``lm_head=True``) or of its body plus a one-label value head."""
        h, q, kv = self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim
        attn = (
            h * q
            + 2 * h * kv
            + q * h
            + ((q + 2 * kv) if self.qkv_bias else 0)
            + (2 * self.head_dim if self.qk_norm else 0)
        )
        layer = attn + 3 * h * self.intermediate + 2 * h
        body = self.layers * layer + self.vocab * h + h  # + embedding + final norm
        if lm_head:
            return body + (0 if self.tied else self.vocab * h)
        return body + h + 1  # AutoModelForTokenClassification, num_labels = 1


# config.json of each checkpoint (hidden_size, num_hidden_layers, intermediate_size, num_attention_heads,
# num_key_value_heads, head_dim, vocab_size, tie_word_embeddings)
ARCHITECTURES: dict[str, Architecture] = {
    "Qwen/Qwen3-8B-Base": Architecture(4096, 36, 12288, 32, 8, 128, 151936, tied=False, qk_norm=True),
    "Qwen/Qwen3-4B-Base": Architecture(2560, 36, 9728, 32, 8, 128, 151936, tied=True, qk_norm=True),
    "Qwen/Qwen3-1.7B-Base": Architecture(2048, 28, 6144, 16, 8, 128, 151936, tied=True, qk_norm=True),
    "meta-llama/Llama-3.2-3B-Instruct": Architecture(3072, 28, 8192, 24, 8, 128, 128256, tied=True),
    "Qwen/Qwen2.5-Math-1.5B": Architecture(1536, 28, 8960, 12, 2, 128, 151936, tied=True, qkv_bias=True),
    "Qwen/Qwen2.5-Math-7B": Architecture(3584, 28, 18944, 28, 4, 128, 152064, tied=False, qkv_bias=True),
}


@dataclasses.dataclass(frozen=True)
class DiskNeed:
    """Checkpoint disk of one run (bytes); ``None`` where retention is off (every checkpoint kept: unbounded)."""

    hf_id: str
    policy_params: int
    value_params: int  # 0 without PCL's value model
    per_save: int
    folders: int | None  # folders kept between saves: K, plus the best when validation runs (0: never saves)
    kept: int | None  # bytes kept between saves
    peak: int | None  # bytes while a save completes (kept + the new folder)


def _get(node: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if node is None:
            return None
        node = node.get(part) if hasattr(node, "get") else None
    return node


def disk_need(config: Mapping[str, Any]) -> DiskNeed:
    """Checkpoint bytes of a composed run config (``run.hf_id``, retention keys, PCL value model, validation)."""
    hf_id = str(_get(config, "run.hf_id"))
    if hf_id not in ARCHITECTURES:
        raise KeyError(f"run.hf_id={hf_id!r} has no architecture entry; known: {sorted(ARCHITECTURES)}")
    arch = ARCHITECTURES[hf_id]
    policy = arch.params()
    value = 0
    if _get(config, "curriculum.value_model.enable"):
        path = str(_get(config, "curriculum.value_model.model.path"))
        value_id = next((k for k in ARCHITECTURES if path.endswith(k)), hf_id)
        value = ARCHITECTURES[value_id].params(lm_head=False)
    if _get(config, "critic.enable"):
        value += arch.params(lm_head=False)
    per_save = BYTES_PER_PARAM * (policy + value)
    if int(_get(config, "trainer.save_freq") or -1) <= 0:
        return DiskNeed(hf_id, policy, value, per_save, 0, 0, 0)
    keep = _get(config, "trainer.max_actor_ckpt_to_keep")
    if keep is None:
        return DiskNeed(hf_id, policy, value, per_save, None, None, None)
    best = bool(_get(config, "run.keep_best_checkpoint")) and int(_get(config, "trainer.test_freq") or -1) > 0
    folders = int(keep) + int(best)
    return DiskNeed(hf_id, policy, value, per_save, folders, folders * per_save, (folders + 1) * per_save)
