"""TQRolloutContext and AllowListReplayBuffer against a real TransferQueue on a local Ray.

The agent loop is replaced by a stub that writes trajectories into TransferQueue exactly as
``AgentLoopWorkerTQ._agent_loop_postprocess`` lays them out (``{uid}_{session}_{i}`` keys, ``uid``/``index``
fields, nested ``rm_scores`` with the reward on the last token, prompt tag ``finished``), with Bernoulli
rewards from seeded per-prompt success rates. Everything else is the project's code and verl's buffer.
"""

from __future__ import annotations

import logging
import time

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
PROMPT_LEN = 5


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
        self.timing_raw: dict[str, float] = {}
        # a slow producer: groups finish ``delay`` seconds after dispatch (inf: never; a dead replica)
        self.delay: float = 0.0
        self._due: dict[str, float] = {}
        self.events: list[tuple[str, int]] = []  # ("dispatch", prompts) / ("poll", 0), in order

    def _submit_batch_to_rollout(self, batch) -> int:
        uids = [str(u) for u in batch["uid"]]
        tags = [{"is_prompt": True, "status": "pending", "global_steps": self.global_steps} for _ in uids]
        tq.kv_batch_put(keys=uids, partition_id=PARTITION, tags=tags)
        self.events.append(("dispatch", len(uids)))
        ns = [int(n) for n in batch["__rollout_n__"]]
        for uid, index, n in zip(uids, [int(i) for i in batch["index"]], ns):
            self.submitted_n.append(n)
            self._write_group(uid, index, n)
        return len(uids)

    def tick(self) -> None:
        """Finish the delayed groups that are due (called on every TransferQueue listing)."""
        now = time.monotonic()
        for uid in [u for u, t in self._due.items() if t <= now]:
            tq.kv_put(key=uid, partition_id=PARTITION, tag={"status": "finished"})
            del self._due[uid]

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
        tags = [dict(t, prompt_len=PROMPT_LEN, seq_len=PROMPT_LEN + RESPONSE_LEN) for t in tags]
        tq.kv_batch_put(keys=keys, partition_id=PARTITION, fields=fields, tags=tags)
        if self.delay > 0:
            tq.kv_put(key=uid, partition_id=PARTITION, tag={"status": "running"})
            self._due[uid] = time.monotonic() + self.delay
        else:
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


@pytest.fixture
def producer(monkeypatch):
    """Route every TransferQueue listing through the stub's clock (slow/dead producers) and record the polls."""
    stubs: list[StubTrainer] = []
    listing = tq.kv_list

    def kv_list(*args, **kwargs):
        for stub in stubs:
            stub.tick()
            stub.events.append(("poll", 0))
        return listing(*args, **kwargs)

    monkeypatch.setattr(tq, "kv_list", kv_list)
    return stubs.append


def _rounds_of_events(events: list[tuple[str, int]]) -> list[int]:
    """Dispatches per wave: consecutive dispatches with no poll between them went to the engine together."""
    waves, current = [], 0
    for kind, _ in events:
        if kind == "dispatch":
            current += 1
        elif current:
            waves.append(current)
            current = 0
    return waves + ([current] if current else [])


def test_generate_and_extend_is_one_wave(local_tq, producer):
    _clear_all()
    trainer = StubTrainer(np.full(4, 0.5), seed=2)
    producer(trainer)
    ctx = TQRolloutContext(trainer, poll_interval=0.01)
    first = ctx.generate(np.array([0, 1]), 2)
    fresh, merged = ctx.generate_and_extend(np.array([2, 3]), 2, first, 3)
    assert [g.n for g in fresh] == [2, 2] and [g.n for g in merged] == [5, 5]
    assert [g.handle for g in merged] == [g.handle for g in first]
    assert ctx.log.rounds == 3 and ctx.log.waves == 2  # three dispatches, two waits
    assert _rounds_of_events(trainer.events) == [1, 2]  # screening and continuation left together


def test_speed_waves_per_step_drop_on_transfer_queue(local_tq, producer):
    """SPEED through the real context: a round's screening and continuation are one wave (curriculum/gen_waves)."""
    from verl_ext.curriculum.speed import SpeedConfig, SpeedCurriculum

    _clear_all()
    rates = np.random.default_rng(0).choice([0.0, 0.5, 1.0], size=200, p=[0.3, 0.4, 0.3])
    trainer = StubTrainer(rates, seed=5)
    producer(trainer)
    cur = SpeedCurriculum(SpeedConfig(batch_size=4, n=8, n_init=4, k=1, seed=0), 200)
    aliases: dict[str, str] = {}
    dispatches = waves = 0
    for step in (1, 2, 3):
        trainer.global_steps = step
        trainer.events.clear()
        ctx = TQRolloutContext(trainer, poll_interval=0.01, aliases=aliases)
        met = cur.run_step(ctx)
        batch, _ = trainer.replay_buffer.sample(global_steps=step, partition_id=PARTITION, batch_size=4)
        td = tq.kv_batch_get(keys=batch.keys, partition_id=PARTITION, select_fields=["uid"])
        sizes = {u: [str(x) for x in td["uid"]].count(u) for u in {str(x) for x in td["uid"]}}
        assert sorted(sizes.values()) == [8, 8, 8, 8]  # n_init + continuation reached the advantage as one group
        assert ctx.log.waves == met["speed/rounds"] == len(_rounds_of_events(trainer.events))
        dispatches += ctx.log.rounds
        waves += ctx.log.waves
        tq.kv_clear(keys=batch.keys, partition_id=PARTITION)
    # before: one wave per dispatch (generate, then extend); now fused rounds send two dispatches per wave
    assert waves < dispatches, (waves, dispatches)


def test_curriculum_generation_runs_under_verls_gen_timer(local_tq, producer):
    from verl.protocol import DataProto
    from verl.trainer.ppo.metric_utils import compute_throughout_metrics, compute_timing_metrics

    from verl_ext.trainer.metrics import fold_generation_into_perf

    _clear_all()
    trainer = StubTrainer(np.full(8, 0.5), seed=4)
    producer(trainer)
    trainer.delay = 0.3
    ctx = TQRolloutContext(trainer, poll_interval=0.01)
    groups = ctx.generate(np.arange(4), 2)
    assert trainer.timing_raw["gen"] >= 0.3  # verl's own key, accumulated by marked_timer
    ctx.release(groups[2:])  # screening discarded: 2 groups x 2 responses
    assert ctx.log.released_prompt_tokens == 4 * PROMPT_LEN
    assert ctx.log.released_response_tokens == 4 * RESPONSE_LEN

    # verl's formulas over the trained batch, folded with the discarded tokens == verl's formulas over everything
    def proto(rows: int) -> DataProto:
        lengths = {"prompt_length": torch.full((rows,), float(PROMPT_LEN)),
                   "response_length": torch.full((rows,), float(RESPONSE_LEN))}  # fmt: skip
        data = DataProto.from_dict(tensors=lengths)
        data.meta_info["global_token_num"] = [PROMPT_LEN + RESPONSE_LEN] * rows
        return data

    timing = {"gen": trainer.timing_raw["gen"], "step": 2.0}
    trained = {**compute_timing_metrics(proto(4), timing), **compute_throughout_metrics(proto(4), timing, 2)}
    everything = {**compute_timing_metrics(proto(8), timing), **compute_throughout_metrics(proto(8), timing, 2)}
    folded = dict(trained)
    log = ctx.log
    folded.update(
        fold_generation_into_perf(trained, timing, 2, 4 * RESPONSE_LEN, log.released_prompt_tokens,
                                  log.released_response_tokens)
    )  # fmt: skip
    for key in ("perf/total_num_tokens", "perf/throughput", "timing_per_token_ms/gen", "timing_s/gen"):
        assert folded[key] == pytest.approx(everything[key]), key
    assert trained["perf/total_num_tokens"] < folded["perf/total_num_tokens"]


def test_rollout_wait_is_bounded_and_names_step_and_prompts(local_tq, producer, monkeypatch, caplog):
    import verl_ext.trainer.context as context

    _clear_all()
    trainer = StubTrainer(np.full(6, 0.5), seed=6)
    producer(trainer)
    trainer.global_steps = 7
    trainer.delay = float("inf")  # a dead replica: the prompts never finish
    monkeypatch.setattr(context, "PROGRESS_INTERVAL_S", 0.1)
    ctx = TQRolloutContext(trainer, poll_interval=0.02, timeout_s=0.5)
    t0 = time.monotonic()
    with caplog.at_level(logging.INFO, logger="verl_ext.trainer.context"):
        with pytest.raises(context.RolloutWaitTimeout) as err:
            ctx.generate(np.array([3, 5]), 2)
    assert 0.5 <= time.monotonic() - t0 < 5
    message = str(err.value)
    assert "step 7: 2 prompt(s) still not finished" in message and "rollout_timeout_s=0.5" in message
    assert "index 3" in message and "index 5" in message and "'running': 2" in message
    assert "agent-loop worker 0" in message and "replica" in message
    assert any("waiting for rollouts: 0/2 prompts finished, 2 running" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match="rollout_timeout_s"):
        TQRolloutContext(trainer, timeout_s=0)


def test_replay_buffer_wait_is_bounded(local_tq, producer):
    from verl_ext.trainer.context import RolloutWaitTimeout

    _clear_all()
    trainer = StubTrainer(np.full(4, 0.5), seed=7)
    producer(trainer)
    trainer.delay = float("inf")
    ctx = TQRolloutContext(trainer, poll_interval=0.02, timeout_s=0.4)
    ctx.commit(ctx.submit(np.array([1, 2]), 2))  # uniform-style: verl's buffer does the waiting
    trainer.replay_buffer.bound_wait(0.4, describe=ctx.describe_pending)
    trainer.replay_buffer.poll_interval = 0.02
    with pytest.raises(RolloutWaitTimeout, match=r"step 1: 2 prompt\(s\) still not finished.*index 1"):
        trainer.replay_buffer.sample(global_steps=1, partition_id=PARTITION, batch_size=2)
    with pytest.raises(ValueError, match="rollout_timeout_s"):
        trainer.replay_buffer.bound_wait(float("nan"))


def _gvm(num_prompts: int):
    from verl_ext.curriculum.gvm import GVMConfig, GVMCurriculum

    rng = np.random.default_rng(3)
    table = {"index": np.arange(num_prompts), "p": rng.uniform(0.05, 0.95, num_prompts),
             "G": rng.uniform(0.5, 2.0, num_prompts)}  # fmt: skip
    return GVMCurriculum(GVMConfig(batch_size=8, n=4, seed=0), num_prompts, pilot_table=table)


def _cures_release(num_prompts: int, tmp_path):
    from verl_ext.curriculum import build_curriculum

    rng = np.random.default_rng(4)
    k = rng.integers(0, 5, num_prompts)
    path = tmp_path / "stage0.npz"
    np.savez(path, index=np.arange(num_prompts), k=k, sigma=np.where((k == 0) | (k == 4), 0.0, rng.random(num_prompts)))
    params = {"release_table": str(path), "batch_size": 8, "n": 4, "release_total": 4 * num_prompts, "num_gpus": 1,
              "copies_n": 1}  # fmt: skip
    return build_curriculum("cures_release", params, num_prompts)


@pytest.mark.parametrize("method", ["gvm", "cures_release"])
def test_unequal_totals_get_verl_padding_rows_and_extra_optimizer_steps(local_tq, method, tmp_path):
    """GVM / CurES-release step totals vs verl's mini-batch: what ``_balance_batch`` appends, measured on TQ.

    verl pads the sampled batch with ``upsample_batch_to_divisible_size`` to a multiple of
    ``ppo_mini_batch_size · rollout.n`` (dp = 1 here), so a step of T trajectories trains ceil(T / unit) mini-batches,
    the last one holding T mod unit real rows and zero-loss padding rows.
    """
    from verl.trainer.ppo.padding_utils import upsample_batch_to_divisible_size

    from verl_ext.trainer.metrics import optimizer_steps, padding_rows

    _clear_all()
    cur = _gvm(64) if method == "gvm" else _cures_release(64, tmp_path)
    trainer = StubTrainer(np.full(64, 0.5), seed=8)
    mini, n = 8, 4  # ppo_mini_batch_size = m, rollout.n = K: unit 32 rows, the budget of one step on average
    pads, steps = [], []
    for step in range(1, 7):
        trainer.global_steps = step
        ctx = TQRolloutContext(trainer, poll_interval=0.01)
        cur.run_step(ctx)
        batch, _ = trainer.replay_buffer.sample(global_steps=step, partition_id=PARTITION, batch_size=8)
        total = len(batch.keys)
        assert total == ctx.log.responses
        padded = upsample_batch_to_divisible_size(batch, mini * n, eos_token_id=0)
        measured = sum(bool(t.get("is_padding", False)) for t in padded.tags)
        assert measured == padding_rows(total, mini * n) == len(padded.keys) - total
        pads.append(measured)
        steps.append(optimizer_steps(len(padded.keys), mini, n, 1))
        assert steps[-1] == -(-total // (mini * n))
        tq.kv_clear(keys=padded.keys, partition_id=PARTITION)
    # the totals are rarely multiples of the mini-batch: padding rows, and a varying optimizer-step count
    assert sum(p > 0 for p in pads) >= 2 and len(set(steps)) > 1, (pads, steps)
    print(f"{method}: padding rows per step {pads}, optimizer steps per step {steps}")
