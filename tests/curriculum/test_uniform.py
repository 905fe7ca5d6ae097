"""``uniform`` curriculum (plain GRPO/REINFORCE++ batches) and the shared group metrics."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from verl_ext.curriculum.base import Group, build_curriculum
from verl_ext.curriculum.testing import FakeRolloutContext, run_steps
from verl_ext.curriculum.uniform import UniformCurriculum, group_counts
from verl_ext.trainer.metrics import shared_step_metrics


def test_uniform_serves_the_seeded_permutation() -> None:
    cur = build_curriculum("uniform", {"batch_size": 4, "n": 3, "seed": 7}, 10)
    assert isinstance(cur, UniformCurriculum)
    ctx = FakeRolloutContext(np.full(10, 0.5), seed=0)
    out = run_steps(cur, ctx, 3)
    perm = np.random.default_rng(7).permutation(10)
    assert out[0][0].tolist() == perm[:4].tolist() and out[1][0].tolist() == perm[4:8].tolist()
    assert all(np.all(n == 3) for _, n in out)
    assert cur.sampler.data_epoch == 1 and cur.sampler.dropped_at_pass_end == 2  # 2 left → skipped
    assert [c[0] for r in ctx.history[:3] for c in r.calls] == ["submit"] * 3


def test_uniform_resume() -> None:
    params = {"batch_size": 4, "n": 2, "seed": 1}
    a = build_curriculum("uniform", params, 30)
    run_steps(a, FakeRolloutContext(np.full(30, 0.5), seed=0), 5)
    b = build_curriculum("uniform", params, 30)
    b.load_state_dict(pickle.loads(pickle.dumps(a.state_dict())))
    out_a = run_steps(a, FakeRolloutContext(np.full(30, 0.5), seed=1), 100)
    out_b = run_steps(b, FakeRolloutContext(np.full(30, 0.5), seed=1), 100)
    assert all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(out_a, out_b, strict=True))


def test_uniform_rejects_batch_larger_than_pool() -> None:
    with pytest.raises(ValueError, match="train_batch_size"):
        build_curriculum("uniform", {"batch_size": 11}, 10)


def test_group_metrics() -> None:
    groups = [
        Group("a", 0, np.array([1.0, 0.0, 0.0, 0.0])),  # informative, acc .25
        Group("b", 1, np.array([1.0, 1.0])),  # all correct
        Group("c", 2, np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0])),  # all wrong
        Group("d", 3),  # no rewards: ignored
    ]
    idx, n, s = group_counts(groups)
    assert idx.tolist() == [0, 1, 2] and n.tolist() == [4, 2, 6] and s.tolist() == [1, 2, 0]
    # the shared metrics of these groups have one writer, the trainer (verl_ext.trainer.metrics)
    m = shared_step_metrics(groups, groups, rounds=1, prompts_rolled_out=4, responses=12, gen_tokens=0)
    assert m["curriculum/effective_ratio"] == pytest.approx(1 / 3)
    assert m["curriculum/effective_sample_ratio"] == pytest.approx(4 / 12)
    assert m["curriculum/train_acc"] == pytest.approx((0.25 + 1 + 0) / 3)
