"""Rendering and scoring of the offline passes equal the training path's (docs/methods/prefilter.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.pilot.conftest import problem, write_prompts
from verl_ext.eval.backends import Generation
from verl_ext.pilot.gradients import prompt_ids
from verl_ext.pilot.rollouts import SamplingSpec, load_prompts, sample_and_score, training_scorer


class FixtureBackend:
    """Returns the same fixed responses for every prompt."""

    def __init__(self, responses: list[Generation]) -> None:
        self.responses = responses

    def generate(self, prompts: list, n: int, params: dict) -> list[list[Generation]]:
        assert params["do_sample"] and n == len(self.responses)
        return [list(self.responses) for _ in prompts]


def test_prompt_ids_equal_training_rendering(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    from verl_ext.workers.prompts import PromptEncoder

    tok = AutoTokenizer.from_pretrained(tiny_model)
    msgs = problem(3)
    training = PromptEncoder(tok, dataset=[]).encode_messages(msgs)  # verl agent loop's rendering
    assert prompt_ids(tok, msgs) == training
    stripped = prompt_ids(tok, msgs, strip_final_period=True)
    assert stripped != training
    text = tok.decode(stripped)
    assert "step by step<|im_end|>" in text and "within \\boxed{}.<|im_end|>" in text  # only the user's period goes


def test_fixture_scores_equal_training_reward(tmp_path: Path) -> None:
    from verl_ext.rewards.math_reward import compute_score

    prompts = load_prompts(write_prompts(tmp_path / "t.parquet", 2))  # ground truths "0", "2"
    gens = [Generation("so \\boxed{2}", False), Generation("\\boxed{0}", False), Generation("\\boxed{2}", True)]
    out = sample_and_score(FixtureBackend(gens), prompts, SamplingSpec(n=3), training_scorer())
    expected = [[compute_score("toy", g.text, t, truncated=g.truncated)["score"] for g in gens]
                for t in prompts.ground_truths]  # fmt: skip
    np.testing.assert_array_equal(out.scores, expected)
    np.testing.assert_array_equal(out.scores, [[0, 1, 0], [1, 0, 0]])  # truncated correct answer scores 0
    assert out.n_correct.tolist() == [1, 1] and out.n_truncated.tolist() == [1, 1]


def test_truncated_zero_even_if_scorer_says_one(tmp_path: Path) -> None:
    prompts = load_prompts(write_prompts(tmp_path / "t.parquet", 1))
    gens = [Generation("a", True), Generation("b", False)]
    out = sample_and_score(FixtureBackend(gens), prompts, SamplingSpec(n=2), lambda r, t, c: np.ones(len(r)))
    assert out.scores.tolist() == [[0.0, 1.0]]


def test_duplicate_indices_refused(tmp_path: Path) -> None:
    import pandas as pd

    path = write_prompts(tmp_path / "t.parquet", 3)
    df = pd.read_parquet(path)
    df.at[2, "extra_info"] = {**df.at[2, "extra_info"], "index": 1}
    df.to_parquet(path)
    with pytest.raises(ValueError, match=r"duplicate values \[1\].*re-prepare"):
        load_prompts(path)


def test_sampling_spec_refuses_bad_values() -> None:
    with pytest.raises(ValueError, match="n >= 1"):
        SamplingSpec(n=0)
    with pytest.raises(ValueError, match="top_p"):
        SamplingSpec(n=1, top_p=0.0)
