"""TruncationAwareRewardManager: truncation decided from token ids, then verl's naive manager + our reward."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from verl_ext.rewards import math_reward

PROMPT_LEN = 4


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    from verl_ext.testing.tiny import build_qwen_tokenizer

    return AutoTokenizer.from_pretrained(build_qwen_tokenizer())


def _manager(tokenizer: Any, response_length: int) -> Any:
    from verl_ext.rewards.manager import TruncationAwareRewardManager

    config = OmegaConf.create({"actor_rollout_ref": {"rollout": {"response_length": response_length}}})
    return TruncationAwareRewardManager(config, tokenizer, compute_score=math_reward.compute_score)


def _item(tokenizer: Any, ids: list[int], response_length: int, extra_info: dict) -> Any:
    from verl import DataProto

    pad = tokenizer.pad_token_id
    responses = torch.tensor([ids + [pad] * (response_length - len(ids))])
    mask = torch.tensor([[1] * PROMPT_LEN + [1] * len(ids) + [0] * (response_length - len(ids))])
    return DataProto.from_dict(
        tensors={
            "prompts": torch.ones(1, PROMPT_LEN, dtype=torch.long),
            "responses": responses,
            "attention_mask": mask,
        },
        non_tensors={
            "data_source": np.array(["math500"], dtype=object),
            "reward_model": np.array([{"style": "rule", "ground_truth": "4"}], dtype=object),
            "extra_info": np.array([extra_info], dtype=object),
        },
    )


def _run(manager: Any, data: Any) -> dict:
    return manager.loop.run_until_complete(manager.run_single(data))


def test_stop_token_ids_cover_qwen_eos(tokenizer: Any) -> None:
    from verl_ext.rewards.manager import stop_token_ids

    ids = stop_token_ids(tokenizer)
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in ids
    assert tokenizer.convert_tokens_to_ids("<|endoftext|>") in ids


@pytest.mark.parametrize(
    ("ends_with_eos", "fills_budget", "truncated"),
    [(True, False, False), (False, False, False), (True, True, False), (False, True, True)],
)
def test_truncation_from_token_ids(tokenizer: Any, ends_with_eos: bool, fills_budget: bool, truncated: bool) -> None:
    ids = tokenizer.encode(r"so \boxed{4}", add_special_tokens=False)
    if ends_with_eos:
        ids = ids + [tokenizer.eos_token_id]
    budget = len(ids) if fills_budget else len(ids) + 3
    shared_info = {"index": 7, "split": "test"}
    out = _run(_manager(tokenizer, budget), _item(tokenizer, ids, budget, shared_info))
    info = out["reward_extra_info"]
    assert info["truncated"] == float(truncated)
    assert out["reward_score"] == (0.0 if truncated else 1.0)
    assert info["acc"] == out["reward_score"]
    assert shared_info == {"index": 7, "split": "test"}  # the dataset's dict is not mutated


def test_wrong_answer_not_truncated_scores_zero(tokenizer: Any) -> None:
    ids = tokenizer.encode(r"so \boxed{5}", add_special_tokens=False) + [tokenizer.eos_token_id]
    out = _run(_manager(tokenizer, 64), _item(tokenizer, ids, 64, {"index": 0, "split": "test"}))
    assert out["reward_score"] == 0.0 and out["reward_extra_info"]["truncated"] == 0.0
