"""Dump the composed, resolved config of every experiment overlay; optionally compare with an earlier dump.

    python scripts/dump_experiments.py OUT_DIR                    # one JSON per configs/experiment/<table>/<row>
    python scripts/dump_experiments.py OUT_DIR --compare OLD_DIR  # ... and list every key that differs

Composes each overlay with its ``run.recipe``'s primary config through Hydra's ``compose`` (what the entry points
do), so a refactor of configs/ can be shown to leave every run as it was (docs/configs.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
log = logging.getLogger("dump_experiments")


def dump(out: Path, skip: tuple[str, ...] = ()) -> int:
    """Write ``out/<table>__<row>.json`` for every experiment (folders in ``skip`` left out); return the count."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    out.mkdir(parents=True, exist_ok=True)
    root = CONFIGS / "experiment"
    count = 0
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        for path in sorted(root.rglob("*.yaml")):
            name = str(path.relative_to(root).with_suffix(""))
            if name.split("/")[0] in skip:
                continue
            recipe = str(OmegaConf.load(path)["run"]["recipe"])
            cfg = compose(config_name=recipe, overrides=[f"experiment={name}"])
            data = OmegaConf.to_container(cfg, resolve=True)
            (out / f"{name.replace('/', '__')}.json").write_text(json.dumps(data, indent=1, sort_keys=True))
            count += 1
    return count


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: node}


def compare(new: Path, old: Path) -> list[str]:
    """Every ``<file>: <key>: old -> new`` difference between two dumps (files missing on either side included)."""
    diffs = []
    names = sorted({p.name for p in new.glob("*.json")} | {p.name for p in old.glob("*.json")})
    for name in names:
        if not (new / name).is_file() or not (old / name).is_file():
            diffs.append(f"{name}: only in {'old' if (old / name).is_file() else 'new'}")
            continue
        a, b = _flat(json.loads((old / name).read_text())), _flat(json.loads((new / name).read_text()))
        for key in sorted(set(a) | set(b)):
            if a.get(key, "<absent>") != b.get(key, "<absent>"):
                diffs.append(f"{name}: {key}: {a.get(key, '<absent>')!r} -> {b.get(key, '<absent>')!r}")
    return diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--compare", type=Path, help="an earlier dump to diff against")
    parser.add_argument("--skip", nargs="*", default=[], help="experiment folders to leave out")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.info("dumped %d experiments into %s", dump(args.out, tuple(args.skip)), args.out)
    if args.compare:
        diffs = compare(args.out, args.compare)
        for line in diffs:
            log.info("%s", line)
        log.info("%d difference(s)", len(diffs))
        sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
