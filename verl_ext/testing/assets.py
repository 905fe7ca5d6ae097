"""The CPU demo's assets, built once and cached: tokenizers, the warmed-up tiny policy and the synthetic parquet files.

Used by ``scripts/make_tiny_assets.py`` and by end-to-end tests. Which tokenizer is used where:

- ``qwen_tokenizer``: the real Qwen2.5 tokenizer (151,665 tokens), for tests of prompt lengths, chat templates and
  verl's model loading with realistic vocabularies (``build_tiny_model()`` uses it by default);
- ``arith_tokenizer``: the small domain tokenizer (``domain_tokenizer.py``) of the warmed-up ``policy``, so the demo
  trains in minutes on 2 cores.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from verl_ext.data.contract import write_dataset
from verl_ext.data.synthetic import LEVELS, generate_splits, make_rows, sample_problems
from verl_ext.testing.cache import cache_root, cached_build, spec_key
from verl_ext.testing.domain_tokenizer import build_arith_tokenizer
from verl_ext.testing.tiny import build_qwen_tokenizer, build_tiny_model
from verl_ext.testing.warmup import sampled_accuracy, warmup_sft

logger = logging.getLogger(__name__)

EVAL_FILE = "warmup_eval.json"


@dataclass(frozen=True)
class DemoSpec:
    """Everything that determines the demo assets (the cache key)."""

    seed: int = 0
    n_train: int = 256  # the RL prompt pool
    n_val: int = 64
    n_sft: int = 4000  # warm-up rows, drawn after train/val and avoiding their expressions where possible
    num_layers: int = 2
    hidden_size: int = 128
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 256
    steps: int = 1500
    lr: float = 3e-3
    batch_size: int = 64
    eval_samples: int = 8  # samples per prompt for the accuracy measurement (temperature 1)


@dataclass(frozen=True)
class DemoAssets:
    """Paths of the built assets and the measured warm-up accuracies."""

    qwen_tokenizer: Path
    arith_tokenizer: Path
    policy: Path
    train: Path
    val: Path
    report: dict[str, Any]


def _accuracy_report(per_prompt: torch.Tensor, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, per-difficulty mean and spread of per-prompt success rates [n_prompts]."""
    difficulty = torch.tensor([r["extra_info"]["difficulty"] for r in rows])
    return {
        "mean": round(per_prompt.mean().item(), 4),
        "by_difficulty": {
            d: round(per_prompt[difficulty == d].mean().item(), 4)
            for d in range(len(LEVELS))
            if (difficulty == d).any()
        },  # fmt: skip
        "frac_never_solved": round((per_prompt == 0).float().mean().item(), 4),
        "frac_always_solved": round((per_prompt == 1).float().mean().item(), 4),
        "frac_mixed": round(((per_prompt > 0) & (per_prompt < 1)).float().mean().item(), 4),
    }


def _build_policy(out: Path, spec: DemoSpec, tok_dir: Path, splits: dict[str, list[dict[str, Any]]]) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = build_tiny_model(arch="qwen2", num_layers=spec.num_layers, hidden_size=spec.hidden_size, heads=spec.heads,
                            kv_heads=spec.kv_heads, intermediate=spec.intermediate, seed=spec.seed,
                            tokenizer_dir=tok_dir)  # fmt: skip
    start = time.perf_counter()
    warmup_sft(base, tok_dir, splits["sft"], out, spec.steps, spec.lr, spec.seed, batch_size=spec.batch_size)
    train_seconds = time.perf_counter() - start
    model = AutoModelForCausalLM.from_pretrained(str(out), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)
    report: dict[str, Any] = {"train_seconds": round(train_seconds, 1), "eval_samples": spec.eval_samples}
    for split in ("train", "val"):
        acc = sampled_accuracy(model, tokenizer, splits[split], k=spec.eval_samples, seed=spec.seed)
        report[split] = _accuracy_report(acc, splits[split])
    report["eval_seconds"] = round(time.perf_counter() - start - train_seconds, 1)
    (out / EVAL_FILE).write_text(json.dumps(report, indent=1))


def build_demo_assets(spec: DemoSpec | None = None) -> DemoAssets:
    """Build (or reuse from ``$VERL_EXT_CACHE``) all demo assets for ``spec`` and return their paths and accuracies."""
    spec = spec or DemoSpec()
    key = spec_key({"kind": "demo", **asdict(spec)})
    qwen_tok = build_qwen_tokenizer()
    arith_tok = build_arith_tokenizer(seed=spec.seed)
    splits = generate_splits({"train": spec.n_train, "val": spec.n_val, "sft": spec.n_sft}, seed=spec.seed)

    def _write_data(out: Path) -> None:
        for split in ("train", "val"):
            write_dataset(splits[split], out / f"{split}.parquet")

    data_dir = cached_build(cache_root() / f"synthetic-{key}", key, _write_data, asdict(spec))
    policy = cached_build(
        cache_root() / f"policy-{key}", key, lambda out: _build_policy(out, spec, arith_tok, splits), asdict(spec)
    )
    report = json.loads((policy / EVAL_FILE).read_text())
    return DemoAssets(qwen_tok, arith_tok, policy, data_dir / "train.parquet", data_dir / "val.parquet", report)


def build_heldout(spec: DemoSpec | None = None, n: int = 256, name: str = "heldout") -> Path:
    """A validation split of ``n`` prompts held out from everything the demo policy saw; cached parquet path.

    The split is drawn after ``spec``'s train, val and warm-up (SFT) splits with ``generate_splits``, which avoids their
    expressions while a level has unused ones left (the one-digit levels 0 and 2 have only 100 expressions each, so
    their prompts necessarily repeat warm-up ones; every other level is unseen). Levels are balanced as in the other
    splits. ``spec``'s own splits, and so the cached policy, are unchanged.
    """
    spec = spec or DemoSpec()
    if n < 1:
        raise ValueError(f"held-out size n={n} must be >= 1")
    key = spec_key({"kind": "demo-heldout", "n": n, "name": name, **asdict(spec)})

    def _write(out: Path) -> None:
        sizes = {"train": spec.n_train, "val": spec.n_val, "sft": spec.n_sft, name: n}
        write_dataset(generate_splits(sizes, seed=spec.seed)[name], out / f"{name}.parquet")

    return cached_build(cache_root() / f"{name}{n}-{key}", key, _write, {"n": n, **asdict(spec)}) / f"{name}.parquet"


def build_level_pool(spec: DemoSpec | None, levels: tuple[int, ...], n_pool: int, n_heldout: int) -> tuple[Path, Path]:
    """An RL pool and a held-out split drawn from the same difficulty levels, unseen by ``spec``'s policy; cached.

    Both are drawn after ``spec``'s train, val and warm-up (SFT) splits, avoiding their expressions and each other's
    while a level has unused ones left (the one-digit levels 0 and 2 only have 100 expressions each), with levels
    balanced (``verl_ext.data.synthetic.sample_problems``). So the held-out split measures generalisation on the
    pool's distribution, and ``spec``'s policy (its cache key) is unchanged. Returns ``(pool, heldout)`` parquet paths.
    """
    spec = spec or DemoSpec()
    levels = tuple(int(d) for d in levels)
    if not levels or any(not 0 <= d < len(LEVELS) for d in levels):
        raise ValueError(f"pool levels {list(levels)}: each must be in 0..{len(LEVELS) - 1} (verl_ext.data.synthetic)")
    if n_pool < 1 or n_heldout < 1:
        raise ValueError(f"n_pool={n_pool} and n_heldout={n_heldout} must be >= 1")
    key = spec_key({"kind": "demo-level-pool", "levels": levels, "n_pool": n_pool, "n_heldout": n_heldout,
                    **asdict(spec)})  # fmt: skip

    def _write(out: Path) -> None:
        base = generate_splits({"train": spec.n_train, "val": spec.n_val, "sft": spec.n_sft}, seed=spec.seed)
        used = {row["extra_info"]["expr"] for rows in base.values() for row in rows}
        # seeds after generate_splits' seed * 1000 + k (k = 0, 1, 2 above)
        pool = sample_problems(n_pool, spec.seed * 1000 + 10, levels, exclude=used)
        heldout = sample_problems(n_heldout, spec.seed * 1000 + 11, levels, exclude=used)
        write_dataset(make_rows(pool, "train"), out / "train.parquet")
        write_dataset(make_rows(heldout, "heldout"), out / "heldout.parquet")

    tag = "".join(str(d) for d in levels)
    meta = {"levels": list(levels), "n_pool": n_pool, "n_heldout": n_heldout, **asdict(spec)}
    out = cached_build(cache_root() / f"pool-l{tag}-{n_pool}-{n_heldout}-{key}", key, _write, meta)
    return out / "train.parquet", out / "heldout.parquet"


# The format defect of the demo-only warm-up: an empty box after the answer. The project reward
# (``verl_ext.rewards.math_reward``, math-verify on the last boxed group) and ``warmup.boxed_int`` both read the empty
# last box and score the response 0, whatever the first box holds.
FORMAT_DEFECT = "\\boxed{}"


@dataclass(frozen=True)
class FormatDefectDemoSpec(DemoSpec):
    """The demo-only spec: ``DemoSpec``'s policy, but a share of its warm-up targets end in ``FORMAT_DEFECT``.

    ``defect_share`` of the SFT rows (a seeded, fixed choice) are trained on ``\\boxed{answer}\\boxed{}`` instead of
    ``\\boxed{answer}``. The behaviour "stop after the answer's box" is then imperfect on every prompt alike: greedy
    decoding follows the defect where its probability exceeds 1/2, while temperature-1 samples are sometimes clean, so
    the binary reward r(x, y) of GRPO's advantage (Shao et al. 2024, Eq. 3's group-normalised r) separates clean from
    defective responses on every prompt with a known answer. What RL can then move is a behaviour shared by all
    prompts, unlike the per-expression arithmetic (docs/demo.md). Its own cache key: ``DemoSpec()``'s is unchanged.
    """

    defect_share: float = 0.6


def with_format_defect(rows: list[dict[str, Any]], share: float, seed: int) -> list[dict[str, Any]]:
    """Copies of warm-up ``rows`` where ``round(share * len(rows))`` of them (seeded) carry ``FORMAT_DEFECT``.

    The defect is written into the copy's ``reward_model.ground_truth`` (``"19}\\boxed{"``), which
    ``warmup.sft_example`` wraps as ``\\boxed{19}\\boxed{}``: these rows are SFT targets only, never scored.
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"defect_share={share}: must be in [0, 1]")
    import random

    n_defect = round(share * len(rows))
    picked = set(random.Random(seed * 1000 + 20).sample(range(len(rows)), n_defect))
    out = []
    for i, row in enumerate(rows):
        if i in picked:
            gt = row["reward_model"]["ground_truth"]
            row = {**row, "reward_model": {**row["reward_model"], "ground_truth": f"{gt}}}{FORMAT_DEFECT[:-1]}"}}
        out.append(row)
    return out


def build_format_demo_assets(spec: FormatDefectDemoSpec | None = None) -> DemoAssets:
    """``build_demo_assets`` for the demo-only ``FormatDefectDemoSpec`` (same tokenizers and data; its own policy).

    The RL pool and validation rows are ``DemoSpec``'s (unmodified ground truths); only the warm-up targets change.
    """
    spec = spec or FormatDefectDemoSpec()
    if not isinstance(spec, FormatDefectDemoSpec):
        raise TypeError(f"spec must be a FormatDefectDemoSpec, got {type(spec).__name__} (use build_demo_assets)")
    key = spec_key({"kind": "demo-format-defect", **asdict(spec)})
    qwen_tok = build_qwen_tokenizer()
    arith_tok = build_arith_tokenizer(seed=spec.seed)
    splits = generate_splits({"train": spec.n_train, "val": spec.n_val, "sft": spec.n_sft}, seed=spec.seed)
    sft_splits = {**splits, "sft": with_format_defect(splits["sft"], spec.defect_share, spec.seed)}

    def _write_data(out: Path) -> None:
        for split in ("train", "val"):
            write_dataset(splits[split], out / f"{split}.parquet")

    data_dir = cached_build(cache_root() / f"synthetic-{key}", key, _write_data, asdict(spec))
    policy = cached_build(
        cache_root() / f"policy-fmt-{key}",
        key,
        lambda out: _build_policy(out, spec, arith_tok, sft_splits),
        asdict(spec),
    )
    report = json.loads((policy / EVAL_FILE).read_text())
    return DemoAssets(qwen_tok, arith_tok, policy, data_dir / "train.parquet", data_dir / "val.parquet", report)
