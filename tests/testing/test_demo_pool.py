"""The demo's RL pool and held-out split (build_level_pool): same levels, balanced, unseen by the policy, cached."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import pytest

from verl_ext.data.contract import read_dataset
from verl_ext.data.synthetic import generate_splits
from verl_ext.testing.assets import (
    FORMAT_DEFECT,
    DemoSpec,
    FormatDefectDemoSpec,
    build_demo_assets,
    build_format_demo_assets,
    build_level_pool,
    with_format_defect,
)
from verl_ext.testing.cache import spec_key
from verl_ext.testing.warmup import boxed_int, sft_example

REPO = Path(__file__).resolve().parents[2]
# data only: build_level_pool never trains a policy; the CLI test builds this spec's (seconds-sized) policy
SMALL = DemoSpec(n_train=16, n_val=8, n_sft=32, num_layers=1, hidden_size=32, heads=2, kv_heads=1, intermediate=64,
                 steps=3, batch_size=8, eval_samples=2)  # fmt: skip


def _exprs(path: Path) -> list[str]:
    return [row["extra_info"]["expr"] for row in read_dataset(path).to_dict("records")]


def test_pool_and_heldout_share_levels_and_avoid_everything_the_policy_saw() -> None:
    levels = (3, 4, 5)
    pool, held = build_level_pool(SMALL, levels, 30, 24)
    pool_rows = read_dataset(pool).to_dict("records")
    held_rows = read_dataset(held).to_dict("records")
    assert (len(pool_rows), len(held_rows)) == (30, 24)
    for rows, n in ((pool_rows, 30), (held_rows, 24)):
        counts = Counter(int(r["extra_info"]["difficulty"]) for r in rows)
        assert set(counts) == set(levels)
        assert max(counts.values()) - min(counts.values()) <= 1, counts  # balanced
        assert sum(counts.values()) == n
    base = generate_splits({"train": SMALL.n_train, "val": SMALL.n_val, "sft": SMALL.n_sft}, seed=SMALL.seed)
    seen = {r["extra_info"]["expr"] for rows in base.values() for r in rows}
    pool_exprs, held_exprs = set(_exprs(pool)), set(_exprs(held))
    assert not pool_exprs & seen and not held_exprs & seen and not pool_exprs & held_exprs
    # the answers are the expressions' values
    for row in pool_rows:
        assert int(row["reward_model"]["ground_truth"]) == eval(row["extra_info"]["expr"])  # noqa: S307 (digits, + and *)
    # cached: the same call returns the same files, another spec or size another folder
    assert build_level_pool(SMALL, levels, 30, 24) == (pool, held)
    assert build_level_pool(SMALL, levels, 31, 24)[0].parent != pool.parent


@pytest.mark.parametrize(("levels", "n_pool", "n_held"), [((), 4, 4), ((8,), 4, 4), ((1, -1), 4, 4), ((1,), 0, 4)])
def test_bad_arguments_are_refused_by_name(levels: tuple[int, ...], n_pool: int, n_held: int) -> None:
    with pytest.raises(ValueError, match="pool levels|n_pool"):
        build_level_pool(SMALL, levels, n_pool, n_held)


def test_cli_points_train_and_val_at_the_pool() -> None:
    args = [f"--{k.replace('_', '-')}={v}" for k, v in asdict(SMALL).items()]
    cmd = [sys.executable, "scripts/make_tiny_assets.py", "--shell", *args, "--heldout", "12", "--pool-levels", "1,3",
           "--pool-size", "10"]  # fmt: skip
    out = subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True).stdout
    lines = dict(line.split("=", 1) for line in out.strip().splitlines()[-3:])
    pool, held = build_level_pool(SMALL, (1, 3), 10, 12)
    assert shlex.split(lines["TRAIN"])[0] == str(pool) and shlex.split(lines["VAL"])[0] == str(held)
    refused = subprocess.run(cmd[:-6] + ["--pool-levels", "1,3"], cwd=REPO, capture_output=True, text=True)
    assert refused.returncode != 0 and "--pool-levels needs --heldout" in refused.stderr


def test_format_defect_marks_the_share_and_the_real_reward_scores_it_zero() -> None:
    from transformers import AutoTokenizer

    from verl_ext.rewards.math_reward import compute_score

    rows = generate_splits({"sft": 40}, seed=0)["sft"]
    marked = with_format_defect(rows, 0.6, seed=0)
    assert [r["extra_info"] for r in marked] == [r["extra_info"] for r in rows]  # same prompts, same order
    assert rows[0]["reward_model"]["ground_truth"].isdigit()  # the input rows are not modified
    tokenizer = AutoTokenizer.from_pretrained(str(build_demo_assets(SMALL).arith_tokenizer), local_files_only=True)
    n_defect = 0
    for clean, row in zip(rows, marked):
        ids, mask = sft_example(tokenizer, row)
        target = tokenizer.decode([t for t, m in zip(ids, mask) if m], skip_special_tokens=True)
        gt = clean["reward_model"]["ground_truth"]
        if target == f"\\boxed{{{gt}}}{FORMAT_DEFECT}":
            n_defect += 1
            # the defective target scores 0 with the demo's reward and with the screen's parser
            assert compute_score("synthetic_arith", target, gt, {}, truncated=False)["score"] == 0.0
            assert boxed_int(target) is None
        else:
            assert target == f"\\boxed{{{gt}}}"
            assert compute_score("synthetic_arith", target, gt, {}, truncated=False)["score"] == 1.0
    assert n_defect == 24  # round(0.6 * 40)
    with pytest.raises(ValueError, match="defect_share"):
        with_format_defect(rows, 1.5, seed=0)


def test_format_defect_spec_is_demo_only() -> None:
    # the test suite's default spec and cache key are unchanged; the variant has its own key and refuses a plain spec
    assert "defect_share" not in asdict(DemoSpec())
    fmt = FormatDefectDemoSpec(**asdict(SMALL), defect_share=0.5)
    assert spec_key({"kind": "demo", **asdict(SMALL)}) != spec_key({"kind": "demo", **asdict(fmt)})
    with pytest.raises(TypeError, match="FormatDefectDemoSpec"):
        build_format_demo_assets(SMALL)  # type: ignore[arg-type]
    plain, variant = build_demo_assets(SMALL), build_format_demo_assets(fmt)
    assert variant.policy != plain.policy
    args = [f"--{k.replace('_', '-')}={v}" for k, v in asdict(SMALL).items()]
    cmd = [sys.executable, "scripts/make_tiny_assets.py", "--shell", *args, "--format-defect", "0.5"]
    out = subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True).stdout
    assert shlex.split(dict(line.split("=", 1) for line in out.strip().splitlines()[-3:])["POLICY"])[0] == str(
        variant.policy
    )
    refused = subprocess.run(cmd[:-1] + ["2"], cwd=REPO, capture_output=True, text=True)
    assert refused.returncode != 0 and "--format-defect 2.0: must be in [0, 1]" in refused.stderr
