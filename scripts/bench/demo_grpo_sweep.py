#!/usr/bin/env python
"""Screen the CPU demo's GRPO settings in seconds per step, outside verl: same policy, task, held-out split and update.

Mirrors what `make demo` runs for uniform GRPO (configs/baseline/grpo_pcl.yaml): m prompts x n responses sampled at
the rollout temperature (pure sampling), binary reward on the last boxed integer, advantage A = r - mean of the
prompt's n rewards (no std; optional --std), seq-mean-token-mean policy-gradient loss, one AdamW step per batch
(weight decay 0.01, gradient clipping 1.0: verl's actor defaults), then greedy accuracy on the held-out split
(verl_ext.testing.assets.build_heldout, the demo's validation set). It is a screening tool: its step-0 accuracy equals
verl's (0.566 on the default assets) but it is not the recipes' code path; confirm a choice with scripts/demo.sh.

    python scripts/bench/demo_grpo_sweep.py --lr 1e-4 --steps 30          # one setting; prints one line per step
    python scripts/bench/demo_grpo_sweep.py --lr 3e-4 --warmup-steps 600  # a weaker warm-up (its own cached policy)
    # the demo's pool (128 prompts, all levels, drawn after the warm-up) and held-out split; greedy accuracy on the
    # pool itself too (what RL trains on), and the pool's sampled success per level before training (8 samples)
    python scripts/bench/demo_grpo_sweep.py --levels 0,1,2,3,4,5,6,7 --pool-size 128 --eval-pool --probe 8
    python scripts/bench/demo_grpo_sweep.py --levels 0,1,2,3,4,5,6,7 --pool-size 128 --eval-pool --oracle-sft
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import asdict

import pandas as pd
import torch

from verl_ext.testing.assets import (
    FORMAT_DEFECT,
    DemoSpec,
    FormatDefectDemoSpec,
    build_demo_assets,
    build_format_demo_assets,
    build_heldout,
    build_level_pool,
)
from verl_ext.testing.warmup import _BOXED, _prompt_ids, boxed_int, sampled_accuracy, sft_batch, sft_example


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--m", type=int, default=16, help="prompts per step")
    p.add_argument("--n", type=int, default=4, help="responses per prompt")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--max-response", type=int, default=24)
    p.add_argument("--heldout", type=int, default=256)
    p.add_argument("--val-every", type=int, default=10)
    p.add_argument("--std", action="store_true", help="divide the advantage by the group's std (CurES's GRPO)")
    p.add_argument("--warmup-steps", type=int, default=DemoSpec().steps, help="SFT steps of the demo policy")
    p.add_argument("--warmup-rows", type=int, default=DemoSpec().n_sft, help="SFT rows of the demo policy (n_sft)")
    p.add_argument("--hidden-size", type=int, default=DemoSpec().hidden_size, help="the demo policy's hidden size")
    p.add_argument("--intermediate", type=int, default=DemoSpec().intermediate, help="the demo policy's MLP width")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--levels", default="", help="e.g. 3,4,5,6: pool and held-out from these levels (build_level_pool)")
    p.add_argument("--pool-size", type=int, default=256, help="with --levels: RL pool size")
    p.add_argument("--eval-pool", action="store_true", help="also print greedy accuracy on the RL pool itself")
    p.add_argument(
        "--oracle-sft",
        action="store_true",
        help="control: replace the policy-gradient loss by supervised cross-entropy on each step's m prompts' correct "
        "answers (an upper bound on what any update from those prompts can transfer to the held-out split)",
    )
    p.add_argument(
        "--format-defect",
        type=float,
        default=0.0,
        help="SHARE > 0: the demo-only policy whose warm-up targets end in an empty box on SHARE of the rows "
        "(verl_ext.testing.assets.FormatDefectDemoSpec); also prints the greedy share of defective responses",
    )
    p.add_argument("--probe", type=int, default=0, help="K > 0: first print the pool's sampled success (K samples)")
    return p.parse_args()


def main() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    a = _args()
    torch.set_num_threads(1)
    spec = DemoSpec(steps=a.warmup_steps, n_sft=a.warmup_rows, hidden_size=a.hidden_size, intermediate=a.intermediate)
    if a.format_defect > 0:
        spec = FormatDefectDemoSpec(**asdict(spec), defect_share=a.format_defect)
        assets = build_format_demo_assets(spec)
    else:
        assets = build_demo_assets(spec)
    tok = AutoTokenizer.from_pretrained(str(assets.policy), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(assets.policy), local_files_only=True, dtype=torch.float32)
    if a.levels:
        levels = tuple(int(x) for x in a.levels.split(","))
        train_path, val_path = build_level_pool(spec, levels, a.pool_size, a.heldout)
    else:
        train_path, val_path = assets.train, build_heldout(spec, a.heldout)
    pool = pd.read_parquet(train_path).to_dict("records")
    val = pd.read_parquet(val_path).to_dict("records")
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    rng = random.Random(a.seed)
    torch.manual_seed(a.seed)
    pad, eos = tok.pad_token_id, tok.eos_token_id

    def generate(prompts: list[list[int]], greedy: bool) -> tuple[torch.Tensor, torch.Tensor, int]:
        width = max(len(x) for x in prompts)
        ids = torch.tensor([[pad] * (width - len(x)) + x for x in prompts])
        att = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in prompts])
        kw = {"do_sample": False} if greedy else {"do_sample": True, "temperature": a.temperature, "top_k": 0}
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=att, max_new_tokens=a.max_response, pad_token_id=pad,
                                 eos_token_id=eos, **kw)  # fmt: skip
        return att, out, width

    # the last val_acc call's share of greedy responses ending in FORMAT_DEFECT, and its accuracy of the FIRST box
    # (the arithmetic, whatever follows it)
    defect_share: list[float] = [0.0, 0.0]

    def val_acc(rows_to_score: list[dict] | None = None) -> tuple[float, dict[int, float]]:
        model.eval()
        val_rows = val if rows_to_score is None else rows_to_score
        hits: dict[int, list[float]] = {}
        n_defect, n_first = 0, 0
        for s in range(0, len(val_rows), 128):
            rows = val_rows[s : s + 128]
            _, out, w = generate([_prompt_ids(tok, r) for r in rows], greedy=True)
            for r, text in zip(rows, tok.batch_decode(out[:, w:], skip_special_tokens=True)):
                ok = float(boxed_int(text) == int(r["reward_model"]["ground_truth"]))
                n_defect += text.strip().endswith(FORMAT_DEFECT)
                first = _BOXED.search(text)
                n_first += first is not None and first.group(1).strip() == r["reward_model"]["ground_truth"]
                hits.setdefault(int(r["extra_info"]["difficulty"]), []).append(ok)
        flat = [h for v in hits.values() for h in v]
        defect_share[:] = [n_defect / len(flat), n_first / len(flat)]
        return sum(flat) / len(flat), {d: round(sum(v) / len(v), 2) for d, v in sorted(hits.items())}

    if a.probe:
        succ = sampled_accuracy(model, tok, pool, k=a.probe, temperature=a.temperature, seed=a.seed)
        level = torch.tensor([int(r["extra_info"]["difficulty"]) for r in pool])
        for d in sorted(set(level.tolist())):
            s = succ[level == d]
            print(
                f"pool level {d}: sampled success mean {s.mean():.3f} | never {(s == 0).float().mean():.2f} "
                f"| 0.2-0.7 {((s >= 0.2) & (s <= 0.7)).float().mean():.2f} | always {(s == 1).float().mean():.2f}"
            )
        mixed = ((succ > 0) & (succ < 1)).float().mean()
        near = ((succ >= 0.2) & (succ <= 0.7)).float().mean()
        print(f"pool: mean {succ.mean():.3f}, mixed {mixed:.2f}, 0.2-0.7 {near:.2f}")
    acc, by_d = val_acc()
    curve = {0: acc}
    defect0, first0 = defect_share
    pool0 = f" | pool greedy {val_acc(pool)[0]:.4f}" if a.eval_pool else ""
    print(f"step 0 val {acc:.4f} defect {defect0:.3f} first-box {first0:.4f} by difficulty {by_d}{pool0}", flush=True)
    order, ptr, t0 = list(range(len(pool))), len(pool), time.time()
    for step in range(1, a.steps + 1):
        if ptr + a.m > len(order):
            rng.shuffle(order)
            ptr = 0
        rows = [pool[i] for i in order[ptr : ptr + a.m]]
        ptr += a.m
        model.eval()
        att, out, w = generate([_prompt_ids(tok, r) for r in rows for _ in range(a.n)], greedy=False)
        texts = tok.batch_decode(out[:, w:], skip_special_tokens=True)
        truths = [int(r["reward_model"]["ground_truth"]) for r in rows for _ in range(a.n)]
        reward = torch.tensor([float(boxed_int(t) == g) for t, g in zip(texts, truths)]).view(a.m, a.n)
        adv = reward - reward.mean(1, keepdim=True)
        if a.std:
            adv = adv / (reward.std(1, keepdim=True) + 1e-6)
        resp = out[:, w:]
        is_eos = resp == eos
        last = torch.where(is_eos.any(1), is_eos.float().argmax(1), torch.full((len(resp),), resp.shape[1] - 1))
        mask = (torch.arange(resp.shape[1])[None] <= last[:, None]).float()  # response tokens up to the first eos
        full = torch.cat([att, mask.long()], 1)
        model.train()
        logits = model(input_ids=out, attention_mask=full, position_ids=(full.cumsum(1) - 1).clamp(min=0)).logits
        logp = torch.log_softmax(logits[:, w - 1 : -1].float(), -1).gather(-1, resp[..., None]).squeeze(-1)
        loss = (-(adv.view(-1, 1) * logp * mask).sum(1) / mask.sum(1)).mean()  # seq-mean-token-mean
        if a.oracle_sft:
            loss = model(**sft_batch([sft_example(tok, r) for r in rows], pad)).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        p = reward.mean(1)
        line = f"step {step} train_acc {p.mean():.3f} eff {((p > 0) & (p < 1)).float().mean():.2f}"
        line += f" {(time.time() - t0) / step:.2f} s/step"
        if step % a.val_every == 0 or step == a.steps:
            acc, by_d = val_acc()
            curve[step] = acc
            line += f" val {acc:.4f} defect {defect_share[0]:.3f} first-box {defect_share[1]:.4f} by difficulty {by_d}"
            if a.eval_pool:
                line += f" | pool greedy {val_acc(pool)[0]:.4f}"
        print(line, flush=True)
    print("RESULT " + json.dumps({"args": vars(a), "val": curve}))


if __name__ == "__main__":
    main()
