"""Filtering cost of PCL vs rollout screening (the PCL paper reports 12.1x / 16.9x at k·m = 2048 on 8 A100s).

Same model, same k·m candidate prompts, CPU:
  (a) PCL: one forward pass of the value model (token-classification head, num_labels=1, value at the last prompt
      token) over all k·m prompts, then one AdamW step of the MSE loss on the m kept prompts;
  (b) screening: 3 rollouts per candidate with HF ``generate`` (batched, left padding, same max new tokens).
The value side uses plain transformers ``AutoModelForTokenClassification`` forward/backward (what verl's value
engine runs per micro-batch), not the Ray worker group, so neither side pays orchestration overhead.

Usage: .venv/bin/python scripts/bench/bench_pcl_filtering.py [--model DIR] [--candidates 64] [--max-new-tokens 64]
Without --model a seeded random tiny Qwen2 (verl_ext.testing.tiny) is used; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoModelForTokenClassification, AutoTokenizer

SUFFIX = "Let's think step by step and output the final answer within \\boxed{}."


def make_prompts(tokenizer, count: int, seed: int) -> list[list[int]]:
    """Chat-templated synthetic maths prompts of varied length (the policy's template, generation prompt on)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        a, b, c = rng.integers(2, 10_000, size=3)
        words = " ".join(["then"] * int(rng.integers(0, 30)))
        text = f"Compute {a} * {b} + {c}, {words} simplify. {SUFFIX}"
        out.append(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True, return_dict=False
            )
        )
    return out


def pad(prompts: list[list[int]], pad_id: int, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        sl = slice(width - len(p), width) if side == "left" else slice(0, len(p))
        ids[i, sl] = torch.tensor(p)
        mask[i, sl] = 1
    return ids, mask


def value_side(model_dir: str, prompts: list[list[int]], m: int, pad_id: int, micro: int) -> dict[str, float]:
    """Score every candidate (no grad), keep the m nearest 0.5, one AdamW step on them (ȳ random in [0, 1])."""
    model = AutoModelForTokenClassification.from_pretrained(model_dir, num_labels=1, dtype=torch.float32)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6, weight_decay=0.01)
    lengths = torch.tensor([len(p) for p in prompts])
    t0 = time.perf_counter()
    values = []
    with torch.no_grad():
        for s in range(0, len(prompts), micro):
            ids, mask = pad(prompts[s : s + micro], pad_id, "right")
            logits = model(input_ids=ids, attention_mask=mask).logits[..., 0]
            values.append(logits[torch.arange(len(ids)), lengths[s : s + micro] - 1])
    v = torch.cat(values)
    keep = torch.argsort((v.clamp(0, 1) - 0.5).abs(), stable=True)[:m]
    score_s = time.perf_counter() - t0
    kept = [prompts[i] for i in keep.tolist()]
    targets = torch.rand(m, generator=torch.Generator().manual_seed(0))
    t1 = time.perf_counter()
    opt.zero_grad()
    for s in range(0, m, micro):  # micro-batch losses summed, normalised by m: one optimizer step
        ids, mask = pad(kept[s : s + micro], pad_id, "right")
        logits = model(input_ids=ids, attention_mask=mask).logits[..., 0]
        last = logits[torch.arange(len(ids)), torch.tensor([len(p) for p in kept[s : s + micro]]) - 1]
        ((last - targets[s : s + micro]) ** 2).sum().div(m).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    train_s = time.perf_counter() - t1
    return {"score_s": score_s, "train_s": train_s, "total_s": score_s + train_s}


def rollout_side(model_dir: str, prompts: list[list[int]], rollouts: int, max_new: int, pad_id: int,
                 batch: int) -> dict[str, float]:  # fmt: skip
    """``rollouts`` sampled responses per prompt (temperature 1), batched with left padding."""
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    torch.manual_seed(0)
    t0 = time.perf_counter()
    new_tokens = 0
    for s in range(0, len(prompts), batch):
        ids, mask = pad(prompts[s : s + batch], pad_id, "left")
        with torch.no_grad():
            out = model.generate(
                input_ids=ids, attention_mask=mask, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                max_new_tokens=max_new, num_return_sequences=rollouts, pad_token_id=pad_id,
            )  # fmt: skip
        new_tokens += int((out[:, ids.shape[1] :] != pad_id).sum())
    gen_s = time.perf_counter() - t0
    return {"gen_s": gen_s, "mean_new_tokens": new_tokens / (len(prompts) * rollouts)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="HF causal-LM folder (default: the cached tiny Qwen2)")
    ap.add_argument("--candidates", type=int, default=64, help="k·m candidate prompts (m = k·m / 4)")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--rollouts", type=int, default=3)
    ap.add_argument("--micro-batch", type=int, default=16, help="value micro-batch and generate batch (prompts)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.model is None:
        from verl_ext.testing.tiny import build_tiny_model

        args.model = str(build_tiny_model())
    tok = AutoTokenizer.from_pretrained(args.model)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    prompts = make_prompts(tok, args.candidates, args.seed)
    m = max(1, args.candidates // 4)
    value = value_side(args.model, prompts, m, pad_id, args.micro_batch)
    screen = rollout_side(args.model, prompts, args.rollouts, args.max_new_tokens, pad_id, args.micro_batch)
    mean_len = float(np.mean([len(p) for p in prompts]))
    print(f"model={args.model} k*m={args.candidates} m={m} mean prompt tokens={mean_len:.1f} threads={args.threads}")
    print(f"(a) PCL value scoring {value['score_s']:.2f} s + value training {value['train_s']:.2f} s "
          f"= {value['total_s']:.2f} s")  # fmt: skip
    print(f"(b) {args.rollouts}-rollout screening (max {args.max_new_tokens} new tokens, mean "
          f"{screen['mean_new_tokens']:.1f} generated): {screen['gen_s']:.2f} s")  # fmt: skip
    print(f"ratio (b)/(a) = {screen['gen_s'] / value['total_s']:.1f}x")


if __name__ == "__main__":
    main()
