"""The trainer's shared observability on a real TransferQueue (local Ray), with a fake strategy that predicts p.

``CurriculumTrainerSync.prepare_step`` and ``step`` run for real (verl's own update is replaced by sampling the
committed groups from the replay buffer): the strategy's select phase under verl's ``marked_timer`` with generation
excluded, calibration of ``predicted_success`` taken before ``observe``, wasted tokens, pool health and coverage, and
the per-prompt tracker's round trip through the trainer's checkpoint file.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

pytest.importorskip("ray")
pytest.importorskip("transfer_queue")

from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync  # noqa: E402

import tests.trainer.test_context_tq_on_cpu as CTX  # noqa: E402  (its stub agent loop and fixtures)
from verl_ext.curriculum.base import Curriculum, CurriculumConfig, Group, RolloutContext  # noqa: E402
from verl_ext.curriculum.observability import PromptTracker  # noqa: E402
from verl_ext.trainer.context import OBSERVE_TIMER, PARTITION, SELECT_TIMER  # noqa: E402
from verl_ext.trainer.trainer import CurriculumTrainerSync  # noqa: E402

RESPONSE_LEN, StubTrainer, _clear_all = CTX.RESPONSE_LEN, CTX.StubTrainer, CTX._clear_all
local_tq, producer = CTX.local_tq, CTX.producer  # the real TransferQueue on a local Ray; its slow-producer clock
POOL = 10
SUCCESS = np.array([0.0, 1.0, 0.5, 0.5, 0.0, 1.0, 0.5, 0.5, 0.5, 0.5])
BATCHES = [np.array([0, 1, 2, 3]), np.array([2, 3, 4, 5])]
SIZES = np.array([2, 4, 4, 6])
THINK_S = 0.05


class FakePredictor(Curriculum):
    """Trains BATCHES[step − 1] with SIZES responses; predicts ``estimate`` (which ``observe`` overwrites)."""

    def __init__(self) -> None:
        super().__init__(CurriculumConfig(batch_size=4, n=4), POOL)
        self.estimate = np.linspace(0.1, 0.9, POOL)
        self.predicted_at_selection: list[np.ndarray] = []

    def run_step(self, ctx: RolloutContext) -> dict[str, float]:
        time.sleep(THINK_S)  # the strategy's own work, inside the select timer
        groups = ctx.generate(BATCHES[(ctx.step - 1) % 2], SIZES)
        ctx.commit(groups)
        return {}

    def predicted_success(self, indices: np.ndarray) -> np.ndarray | None:
        out = self.estimate[np.asarray(indices, dtype=np.int64)].copy()
        self.predicted_at_selection.append(out)
        return out

    def observe(self, trained: Sequence[Group], screened: Sequence[Group] = ()) -> dict[str, float]:
        for g in trained:
            self.estimate[g.index] = g.successes / g.n  # after this, a prediction would equal the outcome
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"estimate": self.estimate.copy()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.estimate = np.asarray(state["estimate"]).copy()


class Harness(CurriculumTrainerSync):
    """The trainer's attributes ``prepare_step``/``step``/checkpoints read; generation by the stub agent loop."""

    def __init__(self, stub: StubTrainer, root: str) -> None:  # no super().__init__: no Ray workers
        self.stub = stub
        self.config = OmegaConf.create({
            "trainer": {"default_local_dir": root, "resume_mode": "auto", "max_actor_ckpt_to_keep": None,
                        "max_critic_ckpt_to_keep": None},
            "actor_rollout_ref": {"actor": {"ppo_mini_batch_size": 4, "ppo_epochs": 1}, "rollout": {"n": 4}},
            "run": {"keep_best_checkpoint": False},
        })  # fmt: skip
        self.section = SimpleNamespace(name="fake", params={}, rollout_timeout_s=60.0, state_file="curriculum_state.pt")
        self.curriculum = FakePredictor()
        self.tracker = PromptTracker(POOL)
        self.extension = self.nested = None
        self.replay_buffer = stub.replay_buffer
        self.train_dataset = stub.train_dataset
        self.train_dataset.dataframe = pd.DataFrame({"extra_info": [{"index": i} for i in range(POOL)]})
        self.global_steps = 1
        self._group_aliases, self._prepare_metrics, self._group_metrics, self._predicted = {}, {}, {}, {}
        self._train_gen_seconds = 0.0
        self._resumed_dir = None

    def _submit_batch_to_rollout(self, batch) -> int:
        self.stub.global_steps = self.global_steps
        return self.stub._submit_batch_to_rollout(batch)

    def run(self) -> tuple[dict[str, float], dict[str, float]]:
        """One step as verl's ``fit`` drives it: fresh ``timing_raw``, ``step``, then the next step number."""
        self.timing_raw: dict[str, float] = {}
        metrics: dict[str, float] = {}
        batch = self.step(metrics, self.timing_raw)
        tq_clear(batch.keys)
        self.global_steps += 1
        return metrics, self.timing_raw


def tq_clear(keys: list[str]) -> None:
    import transfer_queue as tq

    tq.kv_clear(keys=keys, partition_id=PARTITION)


@pytest.fixture
def verl_update_stubbed(monkeypatch):
    """verl's step (update) = sample exactly the committed groups; verl's checkpoint I/O off."""

    def step(self, metrics, timing_raw):
        self.prepare_step()
        batch, _ = self.replay_buffer.sample(global_steps=self.global_steps, partition_id=PARTITION, batch_size=4)
        return batch

    monkeypatch.setattr(PPOTrainerSync, "step", step)
    monkeypatch.setattr(PPOTrainerSync, "_save_checkpoint", lambda self: None)
    monkeypatch.setattr(PPOTrainerSync, "_load_checkpoint", lambda self: setattr(self, "global_steps", 1))


def test_trainer_logs_pool_health_calibration_wasted_tokens_and_times(local_tq, producer, verl_update_stubbed,
                                                                      tmp_path):  # fmt: skip
    _clear_all()
    stub = StubTrainer(SUCCESS, seed=5)
    producer(stub)
    stub.delay = 0.3  # every generation wave waits 0.3 s: timed as gen, not as selection
    trainer = Harness(stub, str(tmp_path))
    before = trainer.curriculum.estimate.copy()
    m1, t1 = trainer.run()

    # step 1 trains prompts 0 (always wrong, 2 responses), 1 (always right, 4), 2 and 3 (p = 0.5, 4 and 6)
    assert t1["gen"] >= 0.3 and THINK_S <= t1[SELECT_TIMER] < 0.3, t1
    assert OBSERVE_TIMER in t1 and "curriculum/select_s" not in m1 and "curriculum/observe_s" not in m1
    assert m1["curriculum/pool/coverage"] == pytest.approx(0.4) and m1["curriculum/pool/unseen"] == pytest.approx(0.6)
    est = trainer.curriculum.estimate  # after observe: each trained prompt's realised success
    mid = [i for i in (2, 3) if 0.05 <= est[i] <= 0.95]
    assert m1["curriculum/pool/seen_lt_0.05"] == pytest.approx((1 + sum(est[[2, 3]] < 0.05)) / 4)
    assert m1["curriculum/pool/seen_between"] == pytest.approx(len(mid) / 4)
    # wasted tokens: every response has RESPONSE_LEN tokens, so the share of responses in all-equal groups
    equal = [2, 4] + [int(n) for i, n in zip((2, 3), SIZES[2:]) if i not in mid]
    assert m1["curriculum/wasted_token_frac"] == pytest.approx(sum(equal) * RESPONSE_LEN / (16 * RESPONSE_LEN))
    # calibration used the estimate as it stood at selection (before observe overwrote it)
    np.testing.assert_array_equal(trainer.curriculum.predicted_at_selection[0], before[BATCHES[0]])
    p, y, n = before[BATCHES[0]], est[BATCHES[0]], SIZES
    assert m1["curriculum/calib/brier"] == pytest.approx(float((n * (p * p - 2 * p * y + y)).sum() / n.sum()))
    if np.ptp(y) > 0:
        assert m1["curriculum/calib/pearson"] == pytest.approx(np.corrcoef(p, y)[0, 1])
        assert "curriculum/calib/spearman" in m1

    # checkpoint after step 1, resume in a fresh trainer: both continue with the same coverage
    trainer.global_steps = 1
    trainer._save_checkpoint()
    resumed = Harness(stub, str(tmp_path))
    resumed._load_checkpoint()  # verl's part (stubbed) restores global_steps = 1, ours reads global_step_1
    assert resumed._resumed_dir.endswith("global_step_1")
    resumed.global_steps = 2
    np.testing.assert_array_equal(resumed.tracker.trained, trainer.tracker.trained)
    np.testing.assert_array_equal(resumed.tracker.last, trainer.tracker.last)
    m2, _ = resumed.run()  # step 2 trains 2, 3, 4, 5: 4 and 5 are new
    assert m2["curriculum/pool/coverage"] == pytest.approx(0.6) and m2["curriculum/pool/unseen"] == pytest.approx(0.4)


def test_a_bad_prediction_is_refused_naming_the_strategy(local_tq, verl_update_stubbed, tmp_path):
    _clear_all()
    trainer = Harness(StubTrainer(SUCCESS, seed=6), str(tmp_path))
    trainer.curriculum.estimate[:] = 1.5
    with pytest.raises(ValueError, match="curriculum 'fake': predicted_success .* in \\[0, 1\\]"):
        trainer.run()
    _clear_all()
