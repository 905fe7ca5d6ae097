"""TQRolloutContext and AllowListReplayBuffer against a real TransferQueue on a local Ray.

The agent loop is replaced by a stub that writes trajectories into TransferQueue exactly as
``AgentLoopWorkerTQ._agent_loop_postprocess`` lays them out (``{uid}_{session}_{i}`` keys, ``uid``/``index``
fields, nested ``rm_scores`` with the reward on the last token, prompt tag ``finished``), with Bernoulli
rewards from seeded per-prompt success rates. Everything else is the project's code and verl's buffer.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")
tq = pytest.importorskip("transfer_queue")

from omegaconf import OmegaConf  # noqa: E402
from verl.utils import tensordict_utils as tu  # noqa: E402

from verl_ext.curriculum.base import Group  # noqa: E402
from verl_ext.trainer.buffer import AllowListReplayBuffer  # noqa: E402
from verl_ext.trainer.context import PARTITION, TQRolloutContext  # noqa: E402

RESPONSE_LEN = 3


class StubDataset:
    """Rows as ``RLHFDataset.__getitem__`` returns them (only what the context and the stub need)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> dict:
        return {"raw_prompt": [{"role": "user", "content": f"q{i}"}], "index": i, "data_source": "stub"}


class StubTrainer:
    """The trainer attributes the context touches, with a stub agent loop behind ``_submit_batch_to_rollout``."""

    def __init__(self, success: np.ndarray, seed: int = 0) -> None:
        self.global_steps = 1
        self.train_dataset = StubDataset(len(success))
        self.success = success
        self.rng = np.random.default_rng(seed)
        self.replay_buffer = AllowListReplayBuffer(
            trainer_mode="sync",
            trainer_config=OmegaConf.create({}),
            max_off_policy_threshold=None,
            max_off_policy_strategy="drop",
            sampler_kwargs=OmegaConf.create({}),
            refill_fn=None,
            poll_interval=0.05,
        )
        self.submitted_n: list[int] = []

    def _submit_batch_to_rollout(self, batch) -> int:
        uids = [str(u) for u in batch["uid"]]
        tags = [{"is_prompt": True, "status": "pending", "global_steps": self.global_steps} for _ in uids]
        tq.kv_batch_put(keys=uids, partition_id=PARTITION, tags=tags)
        ns = [int(n) for n in batch["__rollout_n__"]]
        for uid, index, n in zip(uids, [int(i) for i in batch["index"]], ns):
            self.submitted_n.append(n)
            self._write_group(uid, index, n)
        return len(uids)

    def _write_group(self, uid: str, index: int, n: int) -> None:
        rewards = (self.rng.random(n) < self.success[index]).astype(np.float32)
        keys = [f"{uid}_{s}_0" for s in range(n)]
        scores = [torch.tensor([0.0] * (RESPONSE_LEN - 1) + [float(r)]) for r in rewards]
        fields = tu.get_tensordict(
            {
                "uid": np.array([uid] * n, dtype=object),
                "index": torch.full((n,), index, dtype=torch.int64),
                "rm_scores": torch.nested.as_nested_tensor(scores, layout=torch.jagged),
            }
        )
        tags = [{"status": "success", "response_len": RESPONSE_LEN, "global_steps": 1} for _ in keys]
        tq.kv_batch_put(keys=keys, partition_id=PARTITION, fields=fields, tags=tags)
        tq.kv_put(key=uid, partition_id=PARTITION, tag={"status": "finished"})


@pytest.fixture(scope="module")
def local_tq():
    ray.init(num_cpus=4, include_dashboard=False, ignore_reinit_error=True)
    conf = OmegaConf.create({"backend": {"SimpleStorage": {"num_data_storage_units": 1, "total_storage_size": 10000}}})
    tq.init(conf)
    yield
    tq.close()
    ray.shutdown()


def _clear_all() -> None:
    listing = (tq.kv_list(PARTITION) or {}).get(PARTITION, {})
    if listing:
        tq.kv_clear(keys=list(listing), partition_id=PARTITION)


def test_generate_reads_rewards_per_group_and_unequal_n(local_tq):
    _clear_all()
    success = np.array([0.0, 1.0, 0.5, 1.0])
    trainer = StubTrainer(success)
    ctx = TQRolloutContext(trainer, poll_interval=0.01)
    groups = ctx.generate(np.array([0, 1, 2]), np.array([2, 3, 4]))
    assert [g.index for g in groups] == [0, 1, 2]
    assert [g.n for g in groups] == [2, 3, 4]
    assert groups[0].rewards.tolist() == [0.0, 0.0]
    assert groups[1].rewards.tolist() == [1.0, 1.0, 1.0]
    assert all("_" not in g.handle for g in groups)
    assert ctx.log.rounds == 1 and ctx.log.prompts == 3 and ctx.log.responses == 9


def test_allow_list_buffer_samples_exactly_committed_groups(local_tq):
    _clear_all()
    trainer = StubTrainer(np.full(8, 0.5), seed=1)
    ctx = TQRolloutContext(trainer, poll_interval=0.01)
    groups = ctx.generate(np.arange(6), 2)
    keep, drop = groups[:2], groups[2:]
    ctx.release(drop)
    ctx.commit(keep)
    batch, _ = trainer.replay_buffer.sample(global_steps=1, partition_id=PARTITION, batch_size=512)
    prefixes = {k.split("_", 1)[0] for k in batch.keys}
    assert prefixes == {g.handle for g in keep}
    assert len(batch.keys) == 4
    listing = tq.kv_list(PARTITION).get(PARTITION, {})
    assert not any(k.split("_", 1)[0] in {g.handle for g in drop} for k in listing), "released groups must be gone"
    assert trainer.replay_buffer.allowed == frozenset()


def test_sample_without_commit_raises_with_the_fix(local_tq):
    trainer = StubTrainer(np.full(2, 0.5))
    with pytest.raises(RuntimeError, match="ctx.commit"):
        trainer.replay_buffer.sample(global_steps=1, partition_id=PARTITION, batch_size=2)


def test_extend_continues_one_grpo_group(local_tq):
    _clear_all()
    trainer = StubTrainer(np.array([0.5, 0.5]), seed=3)
    ctx = TQRolloutContext(trainer, poll_interval=0.01)
    first = ctx.generate(np.array([0, 1]), 2)
    merged = ctx.extend(first, 3)
    assert [g.n for g in merged] == [5, 5]
    assert [g.handle for g in merged] == [g.handle for g in first]
    np.testing.assert_array_equal(merged[0].rewards[:2], first[0].rewards)
    ctx.commit(merged)
    batch, _ = trainer.replay_buffer.sample(global_steps=1, partition_id=PARTITION, batch_size=2)
    assert len(batch.keys) == 10
    td = tq.kv_batch_get(keys=batch.keys, partition_id=PARTITION, select_fields=["uid"])
    # GRPO groups by the uid field: continuation trajectories carry their group's uid.
    assert {str(u) for u in td["uid"]} == {g.handle for g in first}


def test_submit_rejects_zero_responses(local_tq):
    ctx = TQRolloutContext(StubTrainer(np.array([0.5])), poll_interval=0.01)
    with pytest.raises(ValueError, match="n >= 1"):
        ctx.submit(np.array([0]), 0)


def test_score_without_value_model_is_explicit(local_tq):
    ctx = TQRolloutContext(StubTrainer(np.array([0.5])))
    with pytest.raises(NotImplementedError, match="value worker"):
        ctx.score(np.array([0]))


def test_group_dataclass_counts():
    g = Group(handle="a", index=3, rewards=np.array([1.0, 0.0, 1.0]))
    assert g.n == 3 and g.successes == 2
