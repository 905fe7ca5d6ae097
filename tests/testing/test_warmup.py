"""Warm-up SFT: answer parsing, batch construction, schedule, and that a short SFT really teaches the format."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from verl_ext.data.synthetic import generate_splits
from verl_ext.testing.domain_tokenizer import build_arith_tokenizer
from verl_ext.testing.tiny import build_tiny_model
from verl_ext.testing.warmup import _lr_at, boxed_int, sampled_accuracy, sft_batch, sft_example, warmup_sft


@pytest.fixture(scope="module")
def tok_dir() -> Path:
    return build_arith_tokenizer()


@pytest.fixture(scope="module")
def tok(tok_dir: Path):
    return AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)


@pytest.mark.parametrize(
    ("text", "value"),
    [("\\boxed{12}", 12), ("a \\boxed{1} then \\boxed{ -3 }", -3), ("\\boxed{1,024}", 1024), ("12", None),
     ("\\boxed{x}", None), ("\\boxed{}", None)],
)  # fmt: skip
def test_boxed_int(text: str, value: int | None) -> None:
    assert boxed_int(text) == value


def test_sft_batch_masks_only_the_answer(tok) -> None:
    rows = generate_splits({"train": 3}, seed=0)["train"]
    examples = [sft_example(tok, r) for r in rows]
    batch = sft_batch(examples, tok.pad_token_id)
    width = max(len(s) for s, _ in examples)
    assert batch["input_ids"].shape == batch["labels"].shape == (3, width)
    for i, row in enumerate(rows):
        target = batch["labels"][i][batch["labels"][i] != -100]
        assert tok.decode(target) == f"\\boxed{{{row['reward_model']['ground_truth']}}}<|im_end|>"
        n = len(examples[i][0])
        assert batch["attention_mask"][i].sum() == n and (batch["input_ids"][i, n:] == tok.pad_token_id).all()


def test_lr_schedule_warms_up_then_decays() -> None:
    lrs = [_lr_at(s, 100, 1.0) for s in range(100)]
    assert lrs[0] == pytest.approx(0.2) and max(lrs) == pytest.approx(1.0)
    assert lrs[-1] == pytest.approx(0.1, abs=0.01) and all(a >= b for a, b in zip(lrs[5:], lrs[6:]))


def test_short_sft_learns_memorised_answers(tmp_path: Path, tok_dir: Path, tok) -> None:
    rows = generate_splits({"train": 6}, seed=1, difficulties=[0])["train"]
    base = build_tiny_model(tmp_path / "base", num_layers=1, hidden_size=32, heads=2, kv_heads=1, intermediate=64,
                            tokenizer_dir=tok_dir)  # fmt: skip
    before = sampled_accuracy(AutoModelForCausalLM.from_pretrained(str(base)), tok, rows, k=4)
    out = warmup_sft(base, tok_dir, rows, tmp_path / "sft", steps=120, lr=1e-2, seed=0, batch_size=16)
    assert (out / "tokenizer.json").is_file() and (out / "config.json").is_file()
    after = sampled_accuracy(AutoModelForCausalLM.from_pretrained(str(out)), tok, rows, k=4)
    assert after.shape == (6,) and before.mean() == 0.0
    assert after.mean() >= 0.5, after


def test_warmup_refuses_empty_rows(tmp_path: Path, tok_dir: Path) -> None:
    with pytest.raises(ValueError, match="train_rows is empty"):
        warmup_sft(tmp_path, tok_dir, [], tmp_path / "o", steps=1, lr=1e-3, seed=0)


class _Oracle:
    """A stand-in policy that answers correctly for prompts whose expression starts with an odd digit."""

    def __init__(self, tok, rows) -> None:
        self.tok, self.answers = tok, {r["prompt"][0]["content"]: r["reward_model"]["ground_truth"] for r in rows}

    def eval(self) -> None:
        pass

    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kw) -> torch.Tensor:
        outs = []
        for ids, mask in zip(input_ids, attention_mask):
            prompt = self.tok.decode(ids[mask.bool()]).split("user\n")[1].split("<|im_end|>")[0]
            answer = self.answers[prompt] if int(prompt[0]) % 2 else "-1"
            outs.append(self.tok.encode(f"\\boxed{{{answer}}}<|im_end|>"))
        width = max(len(o) for o in outs)
        tail = torch.tensor([o + [self.tok.pad_token_id] * (width - len(o)) for o in outs])
        return torch.cat([input_ids, tail], dim=1)


def test_sampled_accuracy_scores_the_last_boxed_answer(tok) -> None:
    rows = generate_splits({"train": 40}, seed=0)["train"]
    acc = sampled_accuracy(_Oracle(tok, rows), tok, rows, k=3, batch_size=7)
    expected = torch.tensor([float(int(r["extra_info"]["expr"][0]) % 2) for r in rows])
    assert acc.shape == (40,) and torch.equal(acc, expected) and 0 < expected.mean() < 1
