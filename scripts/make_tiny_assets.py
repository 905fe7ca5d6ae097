"""Build the CPU demo's assets (cached under $VERL_EXT_CACHE, default <repo>/data/cache) and print where they are.

    python scripts/make_tiny_assets.py            # first run: a few minutes on 2 cores; later runs: instant
    python scripts/make_tiny_assets.py --steps 800 --hidden-size 64
    eval "$(python scripts/make_tiny_assets.py --shell | tail -n 3)"   # sets POLICY, TRAIN, VAL (the demo scripts)
    python scripts/make_tiny_assets.py --shell --heldout 256   # VAL = 256 prompts held out from train, val and SFT
    python scripts/make_tiny_assets.py --shell --heldout 256 --pool-levels 0,1,2,3,4,5,6,7 --pool-size 128
        # the demo's split: TRAIN = a 128-prompt RL pool, VAL = 256 held-out prompts, both drawn after the warm-up
        # from the same levels (verl_ext.testing.assets.build_level_pool; the policy is the spec's)
    python scripts/make_tiny_assets.py --format-defect 0.6   # the demo-only policy: 60 % of its warm-up targets end
        # in an empty box the reward scores 0 (verl_ext.testing.assets.FormatDefectDemoSpec; docs/demo.md)

Prints the paths of the Qwen2.5 tokenizer, the arithmetic-domain tokenizer, the warmed-up policy and the synthetic
train/val parquet files, then the policy's measured success rates (temperature-1 sampling) per difficulty.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shlex
import time

from verl_ext.testing.assets import (
    DemoSpec,
    FormatDefectDemoSpec,
    build_demo_assets,
    build_format_demo_assets,
    build_heldout,
    build_level_pool,
)


def _parse() -> tuple[DemoSpec, str, int, tuple[int, ...], int]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for field in dataclasses.fields(DemoSpec):
        flag = "--" + field.name.replace("_", "-")
        parser.add_argument(flag, type=type(field.default), default=field.default, help=f"default {field.default}")
    parser.add_argument(
        "--heldout",
        type=int,
        default=0,
        help="N > 0: VAL is a split of N prompts held out from train, val and warm-up (default: val)",
    )
    parser.add_argument(
        "--pool-levels",
        default="",
        help="comma-separated difficulty levels, e.g. 0,1,2,3,4,5,6,7: TRAIN becomes an RL pool of --pool-size prompts "
        "and VAL --heldout prompts, both from these levels and drawn after the warm-up (needs --heldout N > 0)",
    )
    parser.add_argument("--pool-size", type=int, default=128, help="with --pool-levels: RL pool size (default 128)")
    parser.add_argument(
        "--format-defect",
        type=float,
        default=0.0,
        help="SHARE in (0, 1]: the demo-only policy whose warm-up targets end in an empty box on SHARE of the rows "
        "(FormatDefectDemoSpec; default 0: the plain DemoSpec)",
    )
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    form.add_argument("--shell", action="store_true", help="print POLICY=, TRAIN=, VAL= lines for a shell's eval")
    args = vars(parser.parse_args())
    as_json, as_shell, heldout = args.pop("json"), args.pop("shell"), args.pop("heldout")
    raw_levels, pool_size = args.pop("pool_levels"), args.pop("pool_size")
    defect = args.pop("format_defect")
    if not 0.0 <= defect <= 1.0:
        parser.error(f"--format-defect {defect}: must be in [0, 1] (0 = no defect, the plain DemoSpec)")
    output = "json" if as_json else "shell" if as_shell else "text"
    if heldout < 0:
        parser.error(f"--heldout {heldout}: must be >= 0 (0 keeps the spec's val split)")
    try:
        levels = tuple(int(x) for x in raw_levels.split(",") if x.strip())
    except ValueError:
        parser.error(f"--pool-levels {raw_levels!r}: expected comma-separated integers, e.g. 0,1,2,3")
    if levels and heldout < 1:
        parser.error("--pool-levels needs --heldout N > 0 (the held-out split drawn from the same levels)")
    if levels and pool_size < 1:
        parser.error(f"--pool-size {pool_size}: must be >= 1")
    spec = FormatDefectDemoSpec(**args, defect_share=defect) if defect > 0 else DemoSpec(**args)
    return spec, output, heldout, levels, pool_size


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    spec, output, heldout, levels, pool_size = _parse()
    start = time.perf_counter()
    assets = build_format_demo_assets(spec) if isinstance(spec, FormatDefectDemoSpec) else build_demo_assets(spec)
    out = {k: str(v) for k, v in dataclasses.asdict(assets).items() if k != "report"}
    if levels:
        pool, held = build_level_pool(spec, levels, pool_size, heldout)
        out["train"], out["val"] = str(pool), str(held)
    elif heldout:
        out["val"] = str(build_heldout(spec, heldout))
    out["report"] = assets.report
    out["wall_seconds"] = round(time.perf_counter() - start, 1)
    if output == "json":
        print(json.dumps(out))
        return
    if output == "shell":
        for var, key in (("POLICY", "policy"), ("TRAIN", "train"), ("VAL", "val")):
            print(f"{var}={shlex.quote(out[key])}")
        return
    for name in ("qwen_tokenizer", "arith_tokenizer", "policy", "train", "val"):
        print(f"{name:16s} {out[name]}")
    for split in ("train", "val"):
        rep = assets.report[split]
        by_d = " ".join(f"d{d}={v:.2f}" for d, v in rep["by_difficulty"].items())
        print(f"{split} success: mean {rep['mean']:.3f} | {by_d} | never {rep['frac_never_solved']:.2f} "
              f"mixed {rep['frac_mixed']:.2f} always {rep['frac_always_solved']:.2f}")  # fmt: skip
    print(f"warm-up train {assets.report['train_seconds']} s, eval {assets.report['eval_seconds']} s "
          f"(when built); this call {out['wall_seconds']} s")  # fmt: skip


if __name__ == "__main__":
    main()
