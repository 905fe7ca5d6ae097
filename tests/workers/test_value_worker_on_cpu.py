"""The PCL value model as a real verl ``TrainingWorker`` group on a local Ray, CPU backend (VERL_PLATFORM=cpu).

Creates the group the way ``PCLExtension.setup`` does (critic-schema config → ``TrainingWorkerConfig`` →
``RayWorkerGroup``), with dp = 2, then: ``reset()`` + ``set_loss_fn()``, ``infer_batch`` scores, one
``train_mini_batch`` step moves predictions toward the targets, and ``save_checkpoint`` → ``load_checkpoint``
restores the predictions and the parameter digest bit-exactly.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

DP = 2
WORKER_ENV = {
    "VERL_PLATFORM": "cpu",  # verl_ext.cpu.plugin: the cpu platform and its patches, in every Ray worker too
    "VERL_USE_EXTERNAL_MODULES": "verl_ext.cpu.plugin",
    "VERL_ENGINE_DEVICE": "cuda",  # selects verl's FSDP engines (registered for cuda/npu only)
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}

pytestmark = pytest.mark.e2e


def _activate_cpu_backend() -> str | None:
    """Turn verl_ext's CPU backend on in this (driver) process; the reason it cannot be, or ``None``."""
    from verl.plugin.platform import platform_manager

    from verl_ext.cpu import plugin

    resolved = platform_manager._current_platform  # verl resolves the platform once per process
    if resolved is not None and resolved.device_name != "cpu":
        return f"this process already resolved verl's platform to {resolved.device_name!r}; run the file alone"
    os.environ.update(WORKER_ENV)
    plugin.activate()
    return None


def _critic_node(model_dir: Path):
    """``critic@...: dp_critic`` + ``model@...model: hf_model`` composed from verl's own config tree."""
    import verl
    from hydra import compose, initialize_config_dir

    cfg_dir = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    overrides = [
        f"actor_rollout_ref.model.path={model_dir}",
        "critic.model.path=null",  # PCL default: the actor's checkpoint
        "critic.strategy=fsdp2",
        "critic.optim.lr=1e-3",  # large enough to see one step move a random head
        "critic.use_dynamic_bsz=true",  # as configs/pcl.yaml
        "critic.ppo_max_token_len_per_gpu=2048",
        "critic.model.use_remove_padding=false",
        "+critic.model.override_config.attn_implementation=sdpa",
        "critic.fsdp.seed=7",
    ]
    with initialize_config_dir(config_dir=cfg_dir, version_base=None):
        cfg = compose("ppo_trainer", overrides=overrides)
    return cfg


@pytest.fixture(scope="module")
def value_group(tmp_path_factory):
    reason = _activate_cpu_backend()
    if reason is not None:
        pytest.skip(reason)
    from verl.single_controller.ray import RayResourcePool

    from verl_ext.testing.tiny import build_tiny_model
    from verl_ext.workers.value_worker import (
        ValueWorkerGroup,
        build_worker_config,
        create_value_worker_group,
        split_value_model_node,
    )

    model_dir = build_tiny_model()
    cfg = _critic_node(model_dir)
    critic_cfg, activation = split_value_model_node(cfg.critic, actor_model_path=str(model_dir))
    assert critic_cfg.model.path == str(model_dir) and activation == "none"
    ray.init(num_cpus=16, num_gpus=DP, runtime_env={"env_vars": WORKER_ENV}, include_dashboard=False)
    try:
        pool = RayResourcePool(process_on_nodes=[DP], use_gpu=True, max_colocate_count=1)
        wg = create_value_worker_group(pool, build_worker_config(critic_cfg), device_name="cpu")
        group = ValueWorkerGroup(wg, activation, seed=1, head_init=None)  # HF random head; the last test re-inits
        group.initialize()
        yield group, tmp_path_factory.mktemp("ckpt")
    finally:
        ray.shutdown()


def _prompts() -> list[list[int]]:
    rng = np.random.default_rng(0)
    return [rng.integers(100, 5000, size=int(n)).tolist() for n in (5, 9, 3, 12, 7)]  # 5 rows: dp padding needed


def test_scores_are_deterministic_and_per_prompt(value_group) -> None:
    group, _ = value_group
    prompts = _prompts()
    v = group.score(prompts)
    assert v.shape == (5,) and np.isfinite(v).all()
    np.testing.assert_array_equal(group.score(prompts), v)
    # a row's score does not depend on its batch-mates or on dp padding
    assert group.score(prompts[1:3]) == pytest.approx(v[1:3], abs=1e-5)


def test_one_step_moves_predictions_toward_targets_and_checkpoint_restores_bit_exactly(value_group) -> None:
    group, ckpt = value_group
    prompts = _prompts()
    before = group.score(prompts)
    targets = np.clip(before + np.array([0.5, -0.5, 0.5, -0.5, 0.5]), -5, 5)
    metrics = group.train(prompts, targets)
    after = group.score(prompts)
    # the engine's reported loss is the global-batch MSE over the 5 real rows (not 6 with the dp-padding row: that
    # would be 5/6 of it); 1% slack for the bf16 autocast of the training forward
    assert metrics["pcl/value/loss"] == pytest.approx(np.mean((before - targets) ** 2), rel=1e-2)
    assert metrics["pcl/value/grad_norm"] > 0
    assert np.mean((after - targets) ** 2) < np.mean((before - targets) ** 2)

    saved_digest = group.param_digest()
    group.save(str(ckpt / "pcl_value"), global_step=1)
    assert group.param_digest() == saved_digest  # saving (and offload round trips) leave the parameters alone
    group.train(prompts, targets)
    moved = group.score(prompts)
    assert not np.array_equal(moved, after)
    assert group.param_digest() != saved_digest
    group.load(str(ckpt / "pcl_value"))
    np.testing.assert_array_equal(group.score(prompts), after)
    assert group.param_digest() == saved_digest  # both dp ranks' shards restored bit-exactly


def test_constant_head_init_on_the_sharded_workers(value_group) -> None:
    """``prepare_value_head`` writes FSDP2's DTensor shards on both ranks: every prompt then scores the init value,
    and one training step moves the scores apart again (the zero weight still gets a gradient). Runs last: it
    re-initialises the module's head.

    This group trains under verl's default mixed precision (bf16 params in the forward, bf16 autocast): FSDP gathers
    the head's bias in bf16 (0.3 -> 0.30078125), and the fp32 head keeps the scores off bf16's 2^-9 grid."""
    from verl_ext.workers.value_worker import prepare_value_head

    group, _ = value_group
    stats = group.wg.execute_all_sync("execute_with_func_generator", prepare_value_head, 0.3, "none")
    assert len(stats) == DP and all(s["weight_abs_sum"] == 0.0 for s in stats)
    prompts = _prompts()
    v0 = group.score(prompts)
    assert np.all(v0 == v0[0]) and v0[0] == pytest.approx(0.3, abs=2**-9)
    group.train(prompts, np.array([1.0, 0.0, 1.0, 0.0, 1.0]))
    after = group.score(prompts)
    assert np.unique(after).size == after.size
    grid = after * 2**9
    assert np.mean(np.abs(grid - np.round(grid)) > 1e-3) >= 0.8  # fp32 scores, not bf16 ones
