"""Pure parts of the trainer integration: shared metrics, data-contract checks, config validation, hook pins."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from verl_ext.curriculum.base import Curriculum, CurriculumConfig, Group
from verl_ext.trainer.config import CurriculumSection, check_trainer_config
from verl_ext.trainer.context import rewards_by_uid
from verl_ext.trainer.metrics import check_group_sizes, group_size_metrics, group_sizes, shared_step_metrics
from verl_ext.trainer.trainer import check_index_alignment, state_digest


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
    assert params(PPOTrainer._compute_advantage) == ["self", "batch", "metrics"]
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
    """GRPO advantage acceptance numbers (docs/methods/grpo.md) on verl's own estimator."""
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
    """Optimizer steps per step (docs/methods/grpo.md): grpo_pcl -> 1, grpo_cures -> 4; padding rounds up."""
    from verl_ext.trainer.metrics import optimizer_steps

    assert optimizer_steps(512 * 16, 512, 16, 1) == 1
    assert optimizer_steps(1024 * 8, 256, 8, 1) == 4
    assert optimizer_steps(1024 * 8 + 1, 256, 8, 2) == 10


def test_group_sizes_count_sessions_per_uid_field():
    # a SPEED group: 2 screening sessions of u, 2 continuation sessions of c relabelled to u; a 2-turn session of v
    keys = ["u_0_0", "u_1_0", "c_0_0", "c_1_0", "v_0_0", "v_0_1", "w_0_0"]
    uids = ["u", "u", "u", "u", "v", "v", "w"]
    sizes = group_sizes(keys, uids)
    assert sizes == {"u": 4, "v": 1, "w": 1}
    assert group_size_metrics(sizes) == {
        "curriculum/group_size_min": 1.0,
        "curriculum/group_size_max": 4.0,
        "curriculum/group_size_distinct": 2.0,
    }
    assert group_size_metrics({}) == {}


def test_singleton_groups_never_reach_a_group_advantage():
    check_group_sizes({"a": 2, "b": 7}, "grpo", "cures", allow_singletons=False)
    with pytest.raises(ValueError, match=r"1 group\(s\) of one response would reach the grpo advantage.*'cures'"):
        check_group_sizes({"a": 2, "b": 1}, "grpo", "cures", allow_singletons=False)
    with pytest.raises(ValueError, match="rloo"):
        check_group_sizes({"a": 1}, "rloo", "uniform", allow_singletons=False)
    check_group_sizes({"a": 1}, "grpo", "gvm", allow_singletons=True)  # GVM keeps n_x = 1 (docs/methods/gvm.md)
    check_group_sizes({"a": 1}, "reinforce_plus_plus", "uniform", allow_singletons=False)  # batch baseline


def test_only_gvm_opts_out_of_the_singleton_guard():
    from verl_ext.curriculum import get_curriculum_class, list_curricula

    assert [n for n in list_curricula() if get_curriculum_class(n).allows_singleton_groups] == ["gvm"]


def test_state_digest_is_exact_and_order_free():
    rng = np.random.default_rng(0)
    state = {"rng": rng.bit_generator.state, "alpha": np.arange(4.0), "nested": {"t": torch.ones(2), "k": [1, "x"]}}
    same = {"nested": {"k": [1, "x"], "t": torch.ones(2)}, "alpha": np.arange(4.0), "rng": rng.bit_generator.state}
    assert state_digest(state) == state_digest(same) and len(state_digest(state)) == 16
    changed = dict(state, alpha=np.array([0.0, 1.0, 2.0, 3.0 + 1e-12]))
    assert state_digest(changed) != state_digest(state)
    assert state_digest(dict(state, alpha=np.arange(4))) != state_digest(state)  # dtype counts
    rng.random()
    assert state_digest(dict(state, rng=rng.bit_generator.state)) != state_digest(state)


def test_verl_timing_and_wait_hooks_we_rely_on_are_pinned():
    """Curriculum rounds feed verl's own ``gen`` timer and throughput keys; the buffer bounds verl's poll."""
    from verl.trainer.ppo.metric_utils import compute_throughout_metrics, compute_timing_metrics
    from verl.trainer.ppo.v1.replay_buffer import VERL_REPLAY_BUFFER_DEBUG_INTERVAL_SECONDS, ReplayBuffer
    from verl.trainer.ppo.v1.trainer_base import PPOTrainer

    assert 'marked_timer("gen", timing_raw' in inspect.getsource(PPOTrainer._step_once)
    assert "self.replay_buffer.sample" in inspect.getsource(PPOTrainer._step_once)
    assert list(inspect.signature(ReplayBuffer._wait_for_next_poll).parameters) == [
        "self", "partition_id", "last_debug_time"
    ]  # fmt: skip
    assert "_wait_for_next_poll" in inspect.getsource(ReplayBuffer.sample)
    assert isinstance(VERL_REPLAY_BUFFER_DEBUG_INTERVAL_SECONDS, int)
    assert 'timing_raw["step"]' in inspect.getsource(compute_throughout_metrics)
    assert '"gen": num_response_tokens' in inspect.getsource(compute_timing_metrics)
    assert "_get_n_gpus_for_throughput" in inspect.getsource(PPOTrainer._compute_metrics)


def test_gen_waves_metric_is_reported_when_known():
    trained = [_g("a", 0, [1, 0])]
    m = shared_step_metrics(trained, [], rounds=3, prompts_rolled_out=2, responses=6, gen_tokens=9, waves=2)
    assert m["curriculum/gen_waves"] == 2.0 and m["curriculum/gen_rounds"] == 3.0
    assert "curriculum/gen_waves" not in shared_step_metrics(trained, [], 1, 1, 2, 3)


def test_padding_rows_formula():
    from verl_ext.trainer.metrics import padding_rows

    assert [padding_rows(t, 32) for t in (32, 33, 35, 64, 1)] == [0, 31, 29, 0, 31]
    with pytest.raises(ValueError, match="unit"):
        padding_rows(3, 0)


class EveryOtherCurriculum(Curriculum):
    """A strategy outside verl_ext, never registered: prompts 0, 2, 4, ... of the pool, n responses each."""

    config_class = CurriculumConfig

    def __init__(self, config: CurriculumConfig, num_prompts: int) -> None:
        super().__init__(config, num_prompts)
        self.cursor = 0

    def run_step(self, ctx) -> dict[str, float]:
        idx = (self.cursor + 2 * np.arange(self.config.batch_size)) % self.num_prompts
        self.cursor = int(idx[-1] + 2) % self.num_prompts
        ctx.commit(ctx.submit(idx, self.config.n))
        return {"every_other/cursor": float(self.cursor)}

    def state_dict(self) -> dict:
        return {"cursor": self.cursor}

    def load_state_dict(self, state) -> None:
        self.cursor = int(state["cursor"])


def test_a_strategy_outside_the_package_runs_by_module_and_class():
    from verl_ext.curriculum.testing import FakeRolloutContext
    from verl_ext.trainer.config import build_from_config
    from verl_ext.trainer.extension import build_extension

    target = f"{__name__}:EveryOtherCurriculum"
    section = check_trainer_config(_config(**{"curriculum.name": target}))
    cur = build_from_config(section, batch_size=4, n=2, num_prompts=20)
    assert type(cur) is EveryOtherCurriculum and cur.config.n == 2
    ctx = FakeRolloutContext(np.full(20, 0.5), seed=0)
    cur.run_step(ctx)
    assert [ctx.group(h).index for h in ctx.record.committed] == [0, 2, 4, 6]
    assert build_extension(target) is None and cur.data_epoch is None  # no capability declared
    for name, message in [(f"{__name__}:Nope", "cannot be imported"), (f"{__name__}:_config", "not a Curriculum")]:
        with pytest.raises(ValueError, match=message):
            check_trainer_config(_config(**{"curriculum.name": name}))


def test_capabilities_replace_names():
    from verl_ext.curriculum import get_curriculum_class, list_curricula
    from verl_ext.trainer.extension import build_extension
    from verl_ext.workers.pcl_extension import PCLExtension

    # the DAPO group filter may only run on plain batches
    assert [n for n in list_curricula() if not get_curriculum_class(n).selects_prompts] == ["uniform"]
    check_trainer_config(_config(**{"algorithm.filter_groups.enable": True}))
    declared = {n: get_curriculum_class(n).extension for n in list_curricula() if get_curriculum_class(n).extension}
    assert sorted(declared) == ["cures_algorithm1", "pcl"]
    assert isinstance(build_extension("pcl"), PCLExtension) and build_extension("ds") is None
