"""The one Hydra entry point of every training recipe: verl 0.9.1's V1 sync trainer driven by the ``curriculum``
section of ``configs/<method>.yaml``, chosen with Hydra's own ``--config-name``::

    python -m recipes.main --config-name=pcl [experiment=<paper>/<row>] [overrides...]

The config is validated and the run's provenance written (``verl_ext.trainer.runner.run``) before Ray starts.
``recipes/<method>/main_<method>.py`` are one-line aliases (``python -m recipes.pcl.main_pcl`` = the command above).
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

__all__ = ["TRAINING_CONFIGS", "alias", "main"]

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
# the primary configs a recipe trains with (configs/<name>.yaml with a ``curriculum`` section)
TRAINING_CONFIGS = ("cures", "ds", "greso", "grpo", "gvm", "pcl", "prefilter", "probe", "speed")


@hydra.main(config_path=str(CONFIG_DIR), config_name=None, version_base=None)
def main(config: DictConfig) -> None:
    """Train with the composed config; refuses a start without ``--config-name``."""
    if "curriculum" not in config:
        raise SystemExit(
            "recipes.main needs a training config: python -m recipes.main --config-name=<name> [overrides...]; "
            f"valid names: {', '.join(TRAINING_CONFIGS)}"
        )
    from verl_ext.trainer.runner import run

    run(config)


def alias(module_name: str, config_name: str) -> None:
    """Run :func:`main` with ``--config-name=<config_name>`` when ``module_name`` is ``__main__`` (the aliases)."""
    if config_name not in TRAINING_CONFIGS:
        raise ValueError(f"unknown training config {config_name!r}; valid: {', '.join(TRAINING_CONFIGS)}")
    if module_name != "__main__":
        return
    if not any(a.startswith("--config-name") or a == "-cn" for a in sys.argv[1:]):
        sys.argv[1:1] = [f"--config-name={config_name}"]
    main()


if __name__ == "__main__":
    main()
