"""Our TaskRunner and the entry function the recipes' entry point (``python -m recipes.main``) calls.

verl's ``TaskRunnerV1`` is a Ray actor class and cannot be subclassed, so this runner repeats its few lines
of wiring (TransferQueue, agent-loop manager) around :class:`CurriculumTrainerSync` and is handed to verl's
own ``run_ppo`` (``verl/trainer/main_ppo.py``).
"""

from __future__ import annotations

import logging
import os

import ray
from omegaconf import DictConfig, OmegaConf

__all__ = ["CurriculumTaskRunner", "record_provenance", "run", "validate"]

logger = logging.getLogger(__name__)


@ray.remote(num_cpus=1)
class CurriculumTaskRunner:
    """Builds the trainer and the agent-loop manager inside Ray and runs ``fit``."""

    def run(self, config: DictConfig) -> None:
        import transfer_queue as tq
        from verl.trainer.ppo.v1 import AgentLoopManagerTQ
        from verl.utils.import_utils import load_class_from_fqn
        from verl.utils.logging_utils import configure_verl_logging

        from verl_ext.trainer.trainer import CurriculumTrainerSync

        configure_verl_logging()
        # verl sets the root logger to WARNING at import; our trainer's per-step INFO lines (state digest, trained
        # groups, resume) follow verl's own level instead
        logging.getLogger("verl_ext").setLevel(os.getenv("VERL_LOGGING_LEVEL", "INFO"))
        config.transfer_queue.enable = True
        OmegaConf.resolve(config)
        tq.init(config.transfer_queue)
        trainer = None
        succeeded = False
        try:
            trainer = CurriculumTrainerSync(config=config)
            trainer.init()
            fqn = config.actor_rollout_ref.rollout.get("agent", {}).get("agent_loop_manager_class")
            manager_cls = load_class_from_fqn(fqn, "AgentLoopManager") if fqn else AgentLoopManagerTQ
            manager = manager_cls.create(
                config=config,
                llm_client=trainer.get_llm_client(),
                teacher_client=trainer.get_teacher_client(),
                reward_loop_worker_handles=trainer.get_reward_handles(),
            )
            trainer.fit(manager)
            succeeded = True
        finally:
            try:
                tracking = getattr(trainer, "logger", None)
                if tracking is not None:
                    tracking.finish(exit_code=0 if succeeded else 1)
            finally:
                tq.close()


def validate(config: DictConfig, dry_run: bool = False) -> None:
    """Every check a start makes before Ray or a GPU is touched; ``scripts/launch.sh`` runs it for dry runs too.

    1. our ``curriculum`` namespace (``check_trainer_config``: the section dataclass and the strategy's own config
       dataclass, i.e. its hyper-parameter bounds, without data);
    2. verl's ``validate_config`` (batch sizes, engine and parallelism keys);
    3. unless ``dry_run``: every file the run reads exists (``preflight.required_paths``), and PCL's
       ``curriculum.value_model`` converts to verl's critic dataclass (that conversion loads the model's config and
       tokenizer from disk, so a dry run checks only its PCL-specific keys).

    Raises ``ValueError``/``AssertionError`` naming the key, before any resource is allocated.
    """
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config
    from verl.utils.device import auto_set_device

    from verl_ext.trainer.config import check_trainer_config
    from verl_ext.trainer.preflight import ConfigCheckError, missing_paths

    auto_set_device(config)
    check_trainer_config(config)
    from verl_ext.nested.controller import nested_config

    nested_config(config)  # Nested-ReFT's ``nested:`` section, if any (schedule, correction keys, vLLM eager mode)
    validate_config(config=config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))
    value_model = config.get("curriculum", {}).get("value_model")
    enabled = value_model is not None and value_model.get("enable", True)
    if enabled and dry_run:
        from verl_ext.workers.loss import HEAD_ACTIVATIONS

        head = value_model.get("head_activation", "none") or "none"
        if head not in HEAD_ACTIVATIONS:
            raise ConfigCheckError(
                f"curriculum.value_model.head_activation={head!r}; valid: {', '.join(HEAD_ACTIVATIONS)}"
            )
    if dry_run:
        return
    missing = missing_paths(config)
    if missing:
        lines = "\n".join(f"  {key}: {path}" for key, path in missing)
        raise ConfigCheckError(
            f"{len(missing)} path(s) the run reads do not exist (set DATA_DIR / MODEL_DIR, run `make data`, or "
            f"override the key):\n{lines}"
        )
    if enabled:
        from verl_ext.workers.value_worker import split_value_model_node

        split_value_model_node(value_model, config.actor_rollout_ref.model.path)


def record_provenance(config: DictConfig) -> str:
    """Write the run's provenance (``verl_ext.provenance``) to ``<trainer.default_local_dir>/provenance.json``.

    A resumed run (or any later start into the same folder) writes ``provenance-<n>.json``; the first record is
    kept. The record holds the commit and dirty flag, package versions, the command line, the resolved config and
    the ``<split>.meta.json`` of the train / validation files. Returns the path written."""
    from verl_ext.provenance import build_provenance, write_provenance

    record = build_provenance(
        "train",
        config=config,
        data_files={"train": config.data.get("train_files"), "val": config.data.get("val_files")},
    )
    return str(write_provenance(config.trainer.default_local_dir, record))


def run(config: DictConfig) -> None:
    """Validate, write the run's provenance, then train with verl's ``run_ppo`` and our runner."""
    from verl.trainer.main_ppo import run_ppo

    validate(config)
    record_provenance(config)
    run_ppo(config, task_runner_class=CurriculumTaskRunner)
