"""verl 0.9.1 reward manager that tells the reward function whether a response was truncated.

verl's stock ``naive`` manager decodes the response with ``skip_special_tokens=True`` and passes no length or finish
reason, so a reward function cannot tell "stopped at EOS" from "cut at ``max_response_length``". This subclass
looks at the token ids first and adds to the item's ``extra_info`` (a per-item copy; the dataset's dict is shared):

- ``response_length``: valid response tokens (attention mask over the response),
- ``max_response_length``: ``actor_rollout_ref.rollout.response_length``,
- ``truncated``: the response fills ``max_response_length`` and its last token is not a stop token.

Then it defers to ``NaiveRewardManager.run_single`` (no copied logic). Select it with::

    reward.reward_manager.source=importlib
    reward.reward_manager.name=TruncationAwareRewardManager
    reward.reward_manager.module.path=pkg://verl_ext.rewards.manager
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from omegaconf import DictConfig
from verl import DataProto
from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager

logger = logging.getLogger(__name__)

# Tokens that end a generation in the model families we train (Qwen base/chat, Llama 3 instruct); those absent
# from a tokenizer's vocabulary are skipped.
STOP_TOKENS = ("<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|eom_id|>")


def stop_token_ids(tokenizer: Any) -> frozenset[int]:
    """The tokenizer's EOS id plus the ids of the known stop tokens it has."""
    ids = set()
    eos = getattr(tokenizer, "eos_token_id", None)
    if isinstance(eos, int):
        ids.add(eos)
    vocab = tokenizer.get_vocab()
    ids.update(vocab[token] for token in STOP_TOKENS if token in vocab)
    return frozenset(ids)


def response_truncated(valid_ids: list[int], max_response_length: int, stop_ids: frozenset[int]) -> bool:
    """True iff the response used the whole length budget without ending on a stop token."""
    if len(valid_ids) < max_response_length:
        return False
    return not valid_ids or valid_ids[-1] not in stop_ids


class TruncationAwareRewardManager(NaiveRewardManager):
    """``naive`` + ``extra_info["truncated"]`` / ``["response_length"]`` / ``["max_response_length"]``."""

    def __init__(
        self,
        config: DictConfig,
        tokenizer: Any,
        compute_score: Any,
        reward_router_address: str | None = None,
        reward_model_tokenizer: Any = None,
    ) -> None:
        super().__init__(config, tokenizer, compute_score, reward_router_address, reward_model_tokenizer)
        self.max_response_length = int(config.actor_rollout_ref.rollout.response_length)
        self.stop_ids = stop_token_ids(tokenizer)

    async def run_single(self, data: DataProto) -> dict:
        """Annotate the (last) item's ``extra_info`` with truncation facts, then score it like ``naive``."""
        data = data[-1:]  # as naive: for multi-sequence outputs only the last sequence is scored
        item = data[0]
        responses = item.batch["responses"]
        length = int(item.batch["attention_mask"][-responses.shape[-1] :].sum())
        valid_ids = responses[:length].tolist()
        extra = dict(item.non_tensor_batch.get("extra_info") or {})
        extra["response_length"] = length
        extra["max_response_length"] = self.max_response_length
        extra["truncated"] = response_truncated(valid_ids, self.max_response_length, self.stop_ids)
        data.non_tensor_batch["extra_info"] = np.array([extra], dtype=object)
        return await super().run_single(data)
