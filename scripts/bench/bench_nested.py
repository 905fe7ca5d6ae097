"""Nested-ReFT on the CPU ``hf`` rollout: generation tokens/s and behaviour-target KL at skip ratios r.

Usage:
    python scripts/bench/bench_nested.py [--ratios 0 0.25 0.5] [--prompts 32] [--tokens 24] [--draws 3]
                                         [--models deep wide] [--threads 2] [--json OUT]

Same prompts (the demo's validation prompts, chat template applied), same sampling (T = 1, seeded) at every r. For
each model and r, ``--draws`` skip sets S are drawn by the project's schedule (random mode, first and last layer
protected, seed 1), the ratios interleaved round by round (order rotated each round, after one untimed full-size
batch); for each S the prompts are generated as ONE batch by the rollout's own ``generate_batch`` inside
``skipped_layers`` (what ``HFRolloutServer`` runs), timed, and then scored by the full model on the sampled tokens:

- tokens/s = generated tokens / wall seconds in ``generate``, and its ratio to r = 0; also tokens per CPU second of
  this process (``time.process_time``), which a shared machine's load disturbs less. Every sample decodes exactly
  ``--tokens`` tokens (EOS does not stop the batch): with EOS, a batch runs until its longest sample ends, so
  tokens/s would mostly measure how many samples of mu_S end early, not the cost of a decoded token;
- KL(mu_S || pi) per token, k1 = E_mu[log mu_S - log pi] and k3 = E_mu[rho - 1 - log rho] (rho = pi / mu_S), over
  the sampled tokens of every draw up to and including each sample's first EOS (what a rollout returns).

Models: ``deep`` -- the 8-layer copy of the demo's warmed-up policy (verl_ext/nested/testing.py; hidden 64: a
layer's time is mostly per-operator overhead, not arithmetic); ``wide`` -- a seeded random Qwen2 of 8 layers, hidden
512 (more arithmetic per layer; its KL is that of a random network, not of a trained LLM). Neither says what a
skipped layer of a pretrained LLM costs in accuracy.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from typing import Any

import torch

logger = logging.getLogger("bench_nested")


def _prompts(tok: Any, n: int) -> list[list[int]]:
    import pandas as pd

    from verl_ext.testing.assets import build_demo_assets

    rows = pd.read_parquet(build_demo_assets().val)["prompt"].tolist()
    rows = (rows * (n // len(rows) + 1))[:n]
    texts = [tok.apply_chat_template(list(r), add_generation_prompt=True, tokenize=False) for r in rows]
    return [list(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]


def _model(name: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from verl_ext.nested.testing import build_deep_policy

    path = build_deep_policy()
    tok = AutoTokenizer.from_pretrained(path)
    if name == "deep":
        return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(), tok
    if name == "wide":
        torch.manual_seed(0)
        cfg = Qwen2Config(vocab_size=len(tok) + (-len(tok)) % 64, hidden_size=512, intermediate_size=1408,
                          num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=4,
                          max_position_embeddings=512, tie_word_embeddings=True)  # fmt: skip
        return Qwen2ForCausalLM(cfg).eval(), tok
    raise ValueError(f"--models: unknown model {name!r}; valid: deep, wide")


@torch.no_grad()
def _full_logprobs(model: Any, prompt: list[int], tokens: list[int]) -> torch.Tensor:
    ids = torch.tensor([prompt + tokens])
    logits = model(ids).logits[0, len(prompt) - 1 : -1].float()
    return torch.log_softmax(logits, -1).gather(-1, torch.tensor(tokens)[:, None]).squeeze(-1)


def bench(name: str, ratios: list[float], n_prompts: int, max_tokens: int, draws: int) -> list[dict[str, Any]]:
    from verl_ext.cpu.generation import GenRequest, generate_batch, sampling_key
    from verl_ext.cpu.layer_skip import decoder_layers, skipped_layers
    from verl_ext.nested.schedule import SkipSchedule, SkipScheduleConfig

    model, tok = _model(name)
    n_layers = len(decoder_layers(model))
    prompts = _prompts(tok, n_prompts)
    key = sampling_key({"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True})
    # the rollout's EOS set (HFRolloutServer): the generation config's ids and the tokenizer's
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    eos = {int(e) for e in (gen_eos if isinstance(gen_eos, list) else [gen_eos]) if e is not None}
    eos.add(int(tok.eos_token_id))
    pad = int(tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
    # warm-up: one untimed batch of the timed shape (the first full-size batch of a process pays one-time costs)
    generate_batch(model, [GenRequest(p, max_tokens, key) for p in prompts], pad, [])
    scheds = {r: SkipSchedule(SkipScheduleConfig(skip_ratio=r, seed=1), n_layers) for r in ratios}
    zero = {"tokens": 0, "seconds": 0.0, "cpu_seconds": 0.0, "k1": 0.0, "k3": 0.0, "kl_tokens": 0}
    acc: dict[float, dict[str, Any]] = {r: {**zero, "sets": []} for r in ratios}
    for d in range(draws):  # the ratios interleaved within each round (order rotated): load hits them alike
        for r in ratios[d % len(ratios) :] + ratios[: d % len(ratios)]:
            a = acc[r]
            skip = scheds[r].draw()
            a["sets"].append(skip)
            torch.manual_seed(100 + d)  # the same sampling stream at every r
            reqs = [GenRequest(p, max_tokens, key) for p in prompts]
            with skipped_layers(model, skip):
                t0, c0 = time.perf_counter(), time.process_time()
                out = generate_batch(model, reqs, pad, [])  # no EOS: every sample decodes max_tokens tokens
                a["seconds"] += time.perf_counter() - t0
                a["cpu_seconds"] += time.process_time() - c0
            for p, o in zip(prompts, out):
                a["tokens"] += len(o.token_ids)
                n = next((j + 1 for j, t in enumerate(o.token_ids) if t in eos), len(o.token_ids))
                lr = _full_logprobs(model, p, o.token_ids[:n]) - torch.tensor(o.log_probs[:n])
                a["k1"] += float((-lr).sum())
                a["k3"] += float((lr.exp() - 1 - lr).sum())
                a["kl_tokens"] += n
    rows = []
    for r in ratios:
        a = acc[r]
        n = max(a["kl_tokens"], 1)
        rows.append({"model": name, "layers": n_layers, "r": r, "skip_size": len(a["sets"][0]), "sets": a["sets"],
                     "tokens": a["tokens"], "seconds": a["seconds"], "tokens_per_s": a["tokens"] / a["seconds"],
                     "cpu_seconds": a["cpu_seconds"], "tokens_per_cpu_s": a["tokens"] / a["cpu_seconds"],
                     "kl_tokens": a["kl_tokens"], "kl_k1": a["k1"] / n, "kl_k3": a["k3"] / n})  # fmt: skip
        logger.info("%s r=%.2f: %.1f tokens/s, KL k1 %.4f k3 %.4f", name, r, rows[-1]["tokens_per_s"],
                    rows[-1]["kl_k1"], rows[-1]["kl_k3"])  # fmt: skip
    base = next((x for x in rows if x["r"] == 0), None)
    for x in rows:
        x["speedup_vs_r0"] = x["tokens_per_s"] / base["tokens_per_s"] if base else float("nan")
        x["cpu_speedup_vs_r0"] = x["tokens_per_cpu_s"] / base["tokens_per_cpu_s"] if base else float("nan")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ratios", type=float, nargs="+", default=[0.0, 0.25, 0.5])
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=24)
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--models", nargs="+", default=["deep", "wide"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()
    rows = [row for m in args.models for row in bench(m, args.ratios, args.prompts, args.tokens, args.draws)]
    load_end = os.getloadavg()
    for row in rows:  # a shared machine: the 1/5/15-minute load averages before and after the run
        row.update(loadavg_start=load_start, loadavg_end=load_end, threads=args.threads)
    lines = [
        "| model | r | \\|S\\| | tokens/s | vs r=0 | tokens/CPU-s | vs r=0 | KL k1 | KL k3 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {x['model']} ({x['layers']} layers) | {x['r']:g} | {x['skip_size']} | {x['tokens_per_s']:.1f} | "
              f"{x['speedup_vs_r0']:.2f}x | {x['tokens_per_cpu_s']:.1f} | {x['cpu_speedup_vs_r0']:.2f}x | "
              f"{x['kl_k1']:.4f} | {x['kl_k3']:.4f} |" for x in rows]  # fmt: skip
    lines.append(f"load average before {load_start}, after {load_end}; {args.threads} torch thread(s)")
    print("\n".join(lines))  # the report is this script's output
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
