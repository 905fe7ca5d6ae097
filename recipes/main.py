"""The one Hydra entry point of every training recipe: verl 0.9.1's V1 sync trainer driven by the ``curriculum``
section of ``configs/<method>.yaml``, chosen with Hydra's own ``--config-name``::

    python -m recipes.main --config-name=pcl [experiment=<paper>/<row>] [overrides...]

The config is validated and the run's provenance written (``verl_ext.trainer.runner.run``) before Ray starts.
There are no per-method entry modules: every method's entry is this one, only the primary config differs.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

__all__ = ["TRAINING_CONFIGS", "main"]

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


if __name__ == "__main__":
    main()
