#!/usr/bin/env python
"""Checkpoint disk per paper row: compose each experiment overlay and print what its checkpoints occupy.

    python scripts/disk_need.py                 # one line per (model, value model), over all 190 rows
    python scripts/disk_need.py --rows          # one line per row
    python scripts/disk_need.py pcl_table1_math/qwen3-8b-base_pcl  # selected rows

Per save: 12 bytes per trained parameter (fp32 weights + AdamW moments, verl's FSDP checkpoint), policy plus PCL's
value model. Kept: K = trainer.max_actor_ckpt_to_keep folders plus the best-validation one; peak: one more while a
save completes (verl_ext/trainer/disk.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from verl_ext.trainer.disk import DiskNeed, disk_need  # noqa: E402

CONFIGS = ROOT / "configs"
GB = 1e9


def experiments() -> list[str]:
    """Every ``configs/experiment/<table>/<row>`` (sorted)."""
    root = CONFIGS / "experiment"
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


def compose_row(experiment: str) -> OmegaConf:
    recipe = OmegaConf.load(CONFIGS / "experiment" / f"{experiment}.yaml")["run"]["recipe"]
    cfg = compose(config_name=str(recipe), overrides=[f"experiment={experiment}"])
    return OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))


def _gb(x: int | None) -> str:
    return "unbounded" if x is None else f"{x / GB:,.0f}"


def table(needs: Iterable[tuple[str, DiskNeed]], per_row: bool) -> list[str]:
    head = "| row | model | params (B) | value model (B) | GB per save | kept folders | GB kept | GB peak |"
    if not per_row:
        head = "| model | value model | rows | params (B) | value (B) | GB/save | kept folders | GB kept | GB peak |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    if per_row:
        for row, n in needs:
            lines.append(
                f"| {row} | {n.hf_id} | {n.policy_params / 1e9:.2f} | {n.value_params / 1e9:.2f} | "
                f"{n.per_save / GB:,.0f} | {n.folders} | {_gb(n.kept)} | {_gb(n.peak)} |"
            )
        return lines
    groups: dict[tuple, list[str]] = {}
    for row, n in needs:
        groups.setdefault((n.hf_id, n.value_params > 0, n.per_save, n.folders, n.kept, n.peak), []).append(row)
    for (hf_id, value, per_save, folders, kept, peak), rows in sorted(groups.items(), key=lambda kv: -kv[0][2]):
        n = next(disk for row, disk in needs if row == rows[0])
        lines.append(
            f"| {hf_id} | {'PCL' if value else '-'} | {len(rows)} | {n.policy_params / 1e9:.2f} | "
            f"{n.value_params / 1e9:.2f} | {per_save / GB:,.0f} | {folders} | {_gb(kept)} | {_gb(peak)} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", nargs="*", help="experiment names (default: all)")
    parser.add_argument("--rows", action="store_true", help="one line per row instead of per model")
    args = parser.parse_args(argv)
    names = args.experiment or experiments()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        needs = [(name, disk_need(compose_row(name))) for name in names]
    print("\n".join(table(needs, per_row=args.rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
