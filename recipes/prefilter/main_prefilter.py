"""Hydra entry point of the `prefilter` recipe: verl 0.9.1's V1 sync trainer driven by the `curriculum` section
of `configs/prefilter.yaml` (see recipes/prefilter/README.md). The config is validated before Ray starts."""

import hydra
from omegaconf import DictConfig

from verl_ext.trainer.runner import run


@hydra.main(config_path="../../configs", config_name="prefilter", version_base=None)
def main(config: DictConfig) -> None:
    run(config)


if __name__ == "__main__":
    main()
