#!/usr/bin/env python
"""Screen PCL's value-model settings at demo scale in seconds, outside verl: calibration and the selection it yields.

Mirrors what the demo's PCL run does to its value model (verl_ext/workers/value_worker.py, docs/pcl.md): the policy's
checkpoint loaded as an HF token-classification model (verl's value model), the value V(x) read at the last prompt
token, head initialised to weight 0 and bias ``--head-init`` (the project's default 0.5), one AdamW step a training
step (weight decay 0.01, gradient clipping 1.0) on the mean squared error (V(x) - ȳ)² over the m trained prompts
(PCL Eq. 2 as a mean). Selection (PCL Alg. 1): k*m candidates drawn from the pool, the m with the smallest |V - τ|
are trained. Unlike the demo, the policy is frozen: each prompt's success probability p(x) is estimated once from
``--k-true`` samples at temperature 1 and each step's ȳ is the mean of n of those samples (the demo's policy moves
little in 30 steps at lr 1e-4; docs/demo.md). It is a screening tool; confirm a choice with scripts/demo.sh.

Per step it prints: bias = mean(V - ȳ) over the trained prompts (the demo's pcl/calib/bias), Pearson(V, p) over the
whole pool, the trained prompts' effective ratio (groups of n with mixed rewards) and, for reference, that of m
candidates taken uniformly (GRPO's). A final RESULT line averages them over the steps.

    python scripts/bench/demo_pcl_value_screen.py --lr 1e-4            # the demo's value lr before this screen
    python scripts/bench/demo_pcl_value_screen.py --lr 1e-5 --levels 0,1,2,3,4,5,6,7 --pool-size 256
"""

from __future__ import annotations

import argparse
import json
import random

import numpy as np
import pandas as pd
import torch

from verl_ext.testing.assets import DemoSpec, build_demo_assets, build_level_pool
from verl_ext.testing.warmup import _prompt_ids, sampled_accuracy


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lr", type=float, default=1e-4, help="value-model lr (AdamW)")
    p.add_argument("--head-init", type=float, default=0.5, help="initial V (head weight 0, bias = this)")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--m", type=int, default=16, help="trained prompts per step")
    p.add_argument("--k", type=int, default=4, help="candidates per trained prompt (PCL's k)")
    p.add_argument("--n", type=int, default=4, help="responses per trained prompt (ȳ over n)")
    p.add_argument("--tau", type=float, default=0.5)
    p.add_argument("--k-true", type=int, default=32, help="samples per prompt estimating p(x)")
    p.add_argument("--levels", default="0,1,2,3,4,5,6,7", help="pool levels (verl_ext.testing.assets)")
    p.add_argument("--pool-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args()


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() < 1e-12 or b.std() < 1e-12:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def main() -> None:
    from transformers import AutoModelForCausalLM, AutoModelForTokenClassification, AutoTokenizer

    a = _args()
    torch.set_num_threads(1)
    spec = DemoSpec()
    assets = build_demo_assets(spec)
    levels = tuple(int(x) for x in a.levels.split(","))
    pool_path, _ = build_level_pool(spec, levels, a.pool_size, 256)
    pool = pd.read_parquet(pool_path).to_dict("records")
    tok = AutoTokenizer.from_pretrained(str(assets.policy), local_files_only=True)
    policy = AutoModelForCausalLM.from_pretrained(str(assets.policy), local_files_only=True, dtype=torch.float32)
    # p(x) from k_true samples; per-sample hits kept so each step's ȳ is a mean of n real rollouts
    hits = []
    for j in range(a.k_true):
        hits.append(sampled_accuracy(policy, tok, pool, k=1, seed=a.seed * 1000 + j).numpy())
    hits_arr = np.stack(hits, 1)  # [pool, k_true]
    p_true = hits_arr.mean(1)
    del policy
    vm = AutoModelForTokenClassification.from_pretrained(str(assets.policy), num_labels=1, local_files_only=True,
                                                         dtype=torch.float32)  # fmt: skip
    with torch.no_grad():
        vm.score.weight.zero_()
        vm.score.bias.fill_(a.head_init)
    opt = torch.optim.AdamW(vm.parameters(), lr=a.lr, weight_decay=0.01)
    ids = [_prompt_ids(tok, r) for r in pool]
    pad = tok.pad_token_id

    def values(idx: list[int], train: bool) -> torch.Tensor:
        width = max(len(ids[i]) for i in idx)
        x = torch.tensor([[pad] * (width - len(ids[i])) + ids[i] for i in idx])  # left padding: last token at -1
        att = (torch.arange(width)[None] >= torch.tensor([width - len(ids[i]) for i in idx])[:, None]).long()
        pos = (att.cumsum(1) - 1).clamp(min=0)
        vm.train(train)
        return vm(input_ids=x, attention_mask=att, position_ids=pos).logits[:, -1, 0]

    rng = random.Random(a.seed)
    nrng = np.random.default_rng(a.seed)
    rows = []
    for step in range(1, a.steps + 1):
        cand = rng.sample(range(len(pool)), a.k * a.m)
        with torch.no_grad():
            v = values(cand, train=False).numpy()
        order = np.argsort(np.abs(v - a.tau), kind="stable")  # ties by candidate order
        chosen = [cand[i] for i in order[: a.m]]
        uniform = cand[: a.m]

        def draw(idx: list[int]) -> np.ndarray:
            return np.stack([hits_arr[i, nrng.choice(a.k_true, a.n, replace=False)] for i in idx])

        y_sel, y_uni = draw(chosen), draw(uniform)
        ybar = torch.tensor(y_sel.mean(1), dtype=torch.float32)
        pred = values(chosen, train=True)
        loss = ((pred - ybar) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vm.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            v_all = values(list(range(len(pool))), train=False).numpy()
        eff = lambda y: float(((y.mean(1) > 0) & (y.mean(1) < 1)).mean())  # noqa: E731
        row = {"step": step, "bias": float(pred.detach().mean() - ybar.mean()), "pearson": _pearson(v_all, p_true),
               "eff_pcl": eff(y_sel), "eff_uniform": eff(y_uni), "ybar_pcl": float(ybar.mean()),
               "v_mean": float(v_all.mean())}  # fmt: skip
        rows.append(row)
        print(" ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
    df = pd.DataFrame(rows)
    summary = {"args": vars(a), "pool_p_mean": float(p_true.mean()), "mean": df.drop(columns="step").mean().to_dict(),
               "last10": df.tail(10).drop(columns="step").mean().to_dict(),
               "abs_bias_mean": float(df["bias"].abs().mean())}  # fmt: skip
    print("RESULT " + json.dumps(summary))


if __name__ == "__main__":
    main()
