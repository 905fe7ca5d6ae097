"""Static checks of every composed experiment (configs/experiment/**): engine and attention installable from the
row's lock, lengths within the model's context, estimated GPU memory per GPU under 80 GiB. Prints a Markdown table.

    python scripts/check_rows.py                       # every experiment; exit 1 if any row fails
    python scripts/check_rows.py pcl_table1_math/qwen3-8b-base_pcl cures_table1/qwen2.5-math-7b_grpo
    python scripts/check_rows.py --locks-dir <dir>     # read gpu-vllm.txt / gpu-sglang.txt from <dir>
    python scripts/check_rows.py <row> --override actor_rollout_ref.rollout.gpu_memory_utilization=0.8

The checks and the memory model are in verl_ext/trainer/static_checks.py (docs/cluster.md). Configs are composed
with the helpers of tests/configs/conftest.py (one Hydra instance, the YAML files loaded once).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from verl_ext.trainer.static_checks import ENGINE_LOCKS, RowReport, check_row, format_table, read_lock  # noqa: E402

logger = logging.getLogger("check_rows")


def experiments() -> list[str]:
    """Every experiment overlay, as ``<table>/<row>``."""
    root = ROOT / "configs" / "experiment"
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


def _compose_helpers() -> Any:
    spec = importlib.util.spec_from_file_location("_configs_conftest", ROOT / "tests" / "configs" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_checks(names: Sequence[str], locks_dir: Path | None = None, overrides: Sequence[str] = ()) -> list[RowReport]:
    """Compose each experiment with its recipe's primary config (plus ``overrides``) and run :func:`check_row`."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    helpers = _compose_helpers()
    helpers.share_hydra_file_cache()
    locks: dict[str, dict[str, str] | None] = {}
    for engine, rel in ENGINE_LOCKS.items():
        path = (locks_dir / Path(rel).name) if locks_dir else ROOT / rel
        locks[engine] = read_lock(path) if path.is_file() else None
        if locks[engine] is None:
            logger.warning("no lock %s: every %s row fails", path, engine)
    reports = []
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base=None):
        for name in names:
            overlay = ROOT / "configs" / "experiment" / f"{name}.yaml"
            if not overlay.is_file():
                raise SystemExit(f"error: no experiment config {overlay.relative_to(ROOT)}")
            recipe = str(OmegaConf.load(overlay).run.recipe)
            cfg = helpers._compose_cached(recipe, (f"experiment={name}", *overrides))
            reports.append(check_row(name, cfg, ROOT, locks))
    GlobalHydra.instance().clear()
    return reports


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiments", nargs="*", help="<table>/<row> (default: every experiment)")
    parser.add_argument(
        "--locks-dir", type=Path, help="folder with gpu-vllm.txt / gpu-sglang.txt (default: requirements/)"
    )
    parser.add_argument("--override", action="append", default=[], help="Hydra override applied to every row")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    reports = run_checks(args.experiments or experiments(), args.locks_dir, args.override)
    sys.stdout.write(format_table(reports) + "\n")
    failed = [r for r in reports if not r.ok]
    peak = max((r.memory.peak for r in reports if r.memory), default=0.0)
    sys.stdout.write(f"\n{len(reports) - len(failed)}/{len(reports)} experiments pass; highest estimated peak "
                     f"{peak:.1f} GiB per GPU\n")  # fmt: skip
    for r in failed:
        sys.stderr.write(f"FAILED {r.experiment}: {'; '.join(r.problems)}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
