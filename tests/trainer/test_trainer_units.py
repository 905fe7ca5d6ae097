"""Pure parts of the trainer integration: shared metrics, data-contract checks, config validation, hook pins."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from verl_ext.curriculum.base import Group
from verl_ext.trainer.config import CurriculumSection, check_trainer_config
from verl_ext.trainer.context import rewards_by_uid
from verl_ext.trainer.metrics import shared_step_metrics
from verl_ext.trainer.trainer import check_index_alignment


def _g(handle: str, index: int, rewards: list[float]) -> Group:
    return Group(handle=handle, index=index, rewards=np.asarray(rewards, dtype=float))


def test_shared_metrics_hand_computed():
    trained = [_g("a", 0, [1, 0, 0, 1]), _g("b", 1, [1, 1]), _g("c", 2, [0, 0, 0, 0, 1, 0])]
    screened = [_g("d", 3, [0, 0, 0, 0])]
    m = shared_step_metrics(trained, screened, rounds=2, prompts_rolled_out=4, responses=16, gen_tokens=40)
    assert m["curriculum/effective_ratio"] == pytest.approx(2 / 3)
    assert m["curriculum/effective_sample_ratio"] == pytest.approx(10 / 12)
    assert m["curriculum/train_acc"] == pytest.approx((0.5 + 1.0 + 1 / 6) / 3)
    assert m["curriculum/rollout_acc"] == pytest.approx(5 / 16)
    assert m["curriculum/gen_rounds"] == 2 and m["curriculum/responses"] == 16


def test_rewards_by_uid_sums_tokens_and_orders_sessions():
    keys = ["u_1_0", "u_0_0", "v_0_0", "w_0_0"]
    uids = ["u", "u", "v", "u"]  # w is a continuation relabelled to group u
    scores = torch.nested.as_nested_tensor(
        [torch.tensor([0.0, 1.0]), torch.tensor([0.0, 0.0]), torch.tensor([1.0]), torch.tensor([0.0, 0.0, 1.0])],
        layout=torch.jagged,
    )
    out = rewards_by_uid(keys, uids, scores)
    assert out == {"u": [0.0, 1.0, 1.0], "v": [1.0]}


def test_index_alignment_names_bad_rows():
    check_index_alignment([{"index": 0}, {"index": 1}])
    with pytest.raises(ValueError, match=r"first rows: \[1, 2\]"):
        check_index_alignment([{"index": 0}, {"index": 0}, None])


def _config(**over):
    base = {
        "curriculum": {"name": "uniform", "seed": 1, "max_gen_rounds": 10, "params": {}},
        "trainer": {"use_v1": True, "v1": {"trainer_mode": "sync"}},
        "algorithm": {"filter_groups": {"enable": False}},
        "data": {"train_batch_size": 4, "dataloader_num_workers": 0, "filter_overlong_prompts": False},
        "actor_rollout_ref": {"rollout": {"n": 2}},
    }
    cfg = OmegaConf.create(base)
    for key, value in over.items():
        OmegaConf.update(cfg, key, value, force_add=True)
    return cfg


def test_valid_config_passes():
    section = check_trainer_config(_config())
    assert isinstance(section, CurriculumSection) and section.name == "uniform"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("curriculum.name", "nope", "valid:"),
        ("trainer.v1.trainer_mode", "colocate_async", "needs 'sync'"),
        ("curriculum.name", "ds", None),  # placeholder replaced below
        ("data.dataloader_num_workers", 8, "dataloader_num_workers must be 0"),
        ("data.filter_overlong_prompts", True, "filter_overlong_prompts must be false"),
        ("curriculum.params", {"batch_size": 3}, "the trainer derives"),
        ("curriculum.params", {"no_such_option": 1}, "valid options"),
    ],
)
def test_invalid_configs_name_the_key(key, value, message):
    if message is None:
        cfg = _config(**{"curriculum.name": "ds", "algorithm.filter_groups.enable": True})
        message = "filter_groups.enable=false"
    else:
        cfg = _config(**{key: value})
    with pytest.raises(ValueError, match=message):
        check_trainer_config(cfg)


def test_verl_hook_signatures_we_override_are_pinned():
    """If verl changes a hook we override, this fails before a GPU run does."""
    from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer
    from verl.trainer.ppo.v1.trainer_base import PPOTrainer
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

    def params(fn):
        return list(inspect.signature(fn).parameters)

    assert params(PPOTrainer.prepare_step) == ["self"]
    assert params(PPOTrainer.step) == ["self", "metrics", "timing_raw"]
    assert params(PPOTrainer._setup) == ["self"]
    assert params(PPOTrainer._save_checkpoint) == ["self"]
    assert params(PPOTrainer._load_checkpoint) == ["self"]
    assert params(PPOTrainer._build_replay_buffer) == ["self"]
    assert params(PPOTrainer._submit_batch_to_rollout) == ["self", "batch"]
    assert params(PPOTrainer._compute_metrics) == ["self", "batch", "metrics", "timing_raw", "global_steps", "epoch"]
    assert params(PPOTrainerSync.on_init_end) == ["self"]
    assert params(ReplayBuffer._sampleable_terminal_keys) == ["self", "partition_id", "eviction_reasons"]
    assert params(ReplayBuffer.sample) == ["self", "global_steps", "partition_id", "batch_size"]
    # the custom-sampler constructor contract our _build_replay_buffer relies on
    rb = params(ReplayBuffer.__init__)
    for name in (
        "trainer_mode",
        "trainer_config",
        "max_off_policy_threshold",
        "max_off_policy_strategy",
        "sampler_kwargs",
        "poll_interval",
        "refill_fn",
    ):
        assert name in rb
    # the trainer's tracker file is written by _save_checkpoint itself, so our state must go first
    assert "latest_checkpointed_iteration.txt" in inspect.getsource(PPOTrainer._save_checkpoint)
    # our state is read after super()._load_checkpoint, which sets global_steps from the folder name
    assert "global_step_" in inspect.getsource(PPOTrainer._load_checkpoint)


def test_grpo_advantage_acceptance_numbers():
    """specs/baselines.md §1 acceptance (3) on verl's own estimator."""
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    def adv(rewards, groups, norm):
        scores = torch.zeros(len(rewards), 2)
        scores[:, -1] = torch.tensor(rewards, dtype=torch.float32)
        mask = torch.ones(len(rewards), 2)
        a, _ = compute_grpo_outcome_advantage(
            scores, mask, np.array(groups, dtype=object), norm_adv_by_std_in_grpo=norm
        )
        return a[:, -1].tolist()

    assert adv([1, 0, 0, 1, 1, 1, 1, 1], list("aaaabbbb"), False) == pytest.approx([0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0])
    # verl divides by std + 1e-6
    assert adv([1, 0, 0, 0], list("aaaa"), True) == pytest.approx([1.5, -0.5, -0.5, -0.5], abs=1e-5)
    # unequal groups (CurES allocations): each group is normalised within itself
    assert adv([1, 0, 1, 1, 0], list("aabbb"), False) == pytest.approx([0.5, -0.5, 1 / 3, 1 / 3, -2 / 3])


def test_optimizer_steps_per_step():
    """specs/baselines.md §1 acceptance (2): grpo_pcl -> 1, grpo_cures -> 4; padding rounds up."""
    from verl_ext.trainer.metrics import optimizer_steps

    assert optimizer_steps(512 * 16, 512, 16, 1) == 1
    assert optimizer_steps(1024 * 8, 256, 8, 1) == 4
    assert optimizer_steps(1024 * 8 + 1, 256, 8, 2) == 10
