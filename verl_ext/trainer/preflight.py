"""Checks a run start makes before any resource is allocated, and the dry run that makes the same checks.

``python -m verl_ext.trainer.preflight --config-dir configs --config-name <recipe> [--dry-run] [--output F]
[overrides...]`` composes the recipe's config with Hydra's compose API (the overrides a recipe entry point takes
on its command line), runs :func:`verl_ext.trainer.runner.validate` on it (our ``curriculum`` dataclass checks,
the strategy's own hyper-parameter checks, verl's ``validate_config``; without ``--dry-run`` also the files the
run reads) and prints the resolved config. A failed check exits with status 2 and a message naming the key and
what is valid.
``scripts/launch.sh`` calls it for ``DRY_RUN=1`` and before every real start.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["ConfigCheckError", "compose", "main", "missing_paths", "required_paths"]

logger = logging.getLogger(__name__)

# curriculum.params keys with these suffixes name files the strategy reads (release tables, pilot files, ...)
_PATH_SUFFIXES = ("_path", "_table", "_file", "_files")


class ConfigCheckError(ValueError):
    """A composed config that a run would refuse; the message names the key and the valid values."""


def _select(config: Any, key: str) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.select(config, key, default=None)


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def required_paths(config: Any) -> Iterator[tuple[str, str]]:
    """``(config key, path)`` of every local file or folder the run reads at start.

    The policy (and reference) weights, the training and validation parquet files, the curriculum's tables (keys
    of ``curriculum.params`` ending in ``_path``/``_table``/``_file(s)``, e.g. the pre-filter's ``pref_table``) and
    PCL's value-model weights. Remote URIs (``hdfs://``, ``s3://``, ...) are skipped: verl copies them at start.
    """
    keys = ["actor_rollout_ref.model.path", "data.train_files", "data.val_files"]
    params = _select(config, "curriculum.params") or {}
    keys += [f"curriculum.params.{k}" for k in params if str(k).endswith(_PATH_SUFFIXES)]
    value_model = _select(config, "curriculum.value_model")
    if value_model is not None and value_model.get("enable", True):
        keys.append("curriculum.value_model.model.path")
    for key in keys:
        for path in _as_list(_select(config, key)):
            if "://" not in path:
                yield key, path


def missing_paths(config: Any) -> list[tuple[str, str]]:
    """The :func:`required_paths` that do not exist on this machine."""
    return [(key, path) for key, path in required_paths(config) if not Path(path).exists()]


def compose(config_dir: str | Path, config_name: str, overrides: Sequence[str]) -> Any:
    """Compose ``<config_dir>/<config_name>.yaml`` with command-line overrides, as the recipe entry point does."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(Path(config_dir).resolve()), version_base=None):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", required=True, help="the recipes' Hydra config folder (configs/)")
    parser.add_argument("--config-name", required=True, help="primary config: the recipe name, e.g. pcl")
    parser.add_argument("--dry-run", action="store_true", help="skip the checks that need the data and weights")
    parser.add_argument("--output", help="write the resolved config here instead of printing it")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as on the entry point's command line")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Compose, validate, print (or write) the resolved config; 0 when every check passes, 2 otherwise."""
    from omegaconf import OmegaConf

    from verl_ext.trainer.runner import validate

    args = _parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = compose(args.config_dir, args.config_name, args.overrides)
        resolved = OmegaConf.to_yaml(config, resolve=True)
        # validate mutates (verl's auto_set_device): check a copy, print what the run receives; verl's
        # validate_config prints its verdict, which must not mix into the YAML on stdout
        with contextlib.redirect_stdout(sys.stderr):
            validate(copy.deepcopy(config), dry_run=args.dry_run)
    except Exception as error:  # noqa: BLE001 - every refusal becomes one line and exit status 2
        kind = type(error).__name__
        sys.stderr.write(f"error: the config of {args.config_name} {' '.join(args.overrides)} fails its checks "
                         f"({kind}):\n  {error}\n")  # fmt: skip
        return 2
    if args.output:
        Path(args.output).write_text(resolved)
    else:
        sys.stdout.write(resolved)
    return 0


if __name__ == "__main__":
    sys.exit(main())
