"""The contract every registered strategy keeps (parametrised over ``list_curricula()``).

- Metrics have one owner: a strategy returns only its own prefix; every ``curriculum/`` key is the trainer's
  (docs/metrics.md).
- A state round trip (pickle and ``torch.save``) gives the same next draws as the uninterrupted run.
- Group and budget invariants of every step: committed groups were generated, never released, carry at least two
  responses (one where the strategy declares ``allows_singleton_groups``), and the step's generation stays within
  ``max_gen_rounds`` rounds.
- PCL with k = 1 (no candidates to rank) trains what uniform trains (PCL Alg. 1 with k·m = m).
- ``predicted_success`` returns ``None`` or one probability in [0, 1] per asked prompt.

Strategies that read a table or a data field are given a small one here; a new strategy with plain
hyper-parameters needs no entry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from verl_ext.curriculum import build_curriculum, get_curriculum_class, list_curricula
from verl_ext.curriculum.base import Curriculum
from verl_ext.curriculum.testing import FakeRolloutContext, roundtrip_state, run_steps

P, M, N = 64, 4, 8
RATES = np.linspace(0.02, 0.98, P)
STEPS = 3


def _train_parquet(tmp_path: Path) -> str:
    path = tmp_path / "train.parquet"
    extra = [{"index": i, "level": f"Level {1 + i % 3}", "difficulty": float(i % 10)} for i in range(P)]
    pd.DataFrame({"prompt": ["q"] * P, "extra_info": extra}).to_parquet(path)
    return str(path)


def _release_table(tmp_path: Path) -> str:
    rng = np.random.default_rng(0)
    k = rng.integers(0, 5, P)
    path = tmp_path / "stage0.parquet"
    pd.DataFrame({"index": np.arange(P), "k": k, "sigma": np.where((k == 0) | (k == 4), 0.0, 0.4)}).to_parquet(path)
    return str(path)


def _gvm_table(tmp_path: Path) -> str:
    rng = np.random.default_rng(0)
    p = rng.choice(np.array([0.125, 0.5, 0.875]), size=P)
    path = tmp_path / "gvm_iter1.parquet"
    pd.DataFrame({"index": np.arange(P), "p": p, "G": rng.uniform(0.5, 3.0, size=P)}).to_parquet(path)
    return str(path)


# name -> params beyond batch_size/n/seed (inputs a real run reads from files written by other passes)
EXTRA: dict[str, Callable[[Path], dict[str, Any]]] = {
    "adarft": lambda d: {"difficulty_file": [_train_parquet(d)]},
    "sec": lambda d: {"arm_file": _train_parquet(d)},
    "cures_release": lambda d: {"release_table": _release_table(d)},
    "gvm": lambda d: {"pilot_path": _gvm_table(d)},
    "cures_algorithm1": lambda d: {"sigma": "bernoulli"},  # gradient norms need the trainer extension's workers
    "greso": lambda d: {"rollout_batch": 16, "min_rollout_batch": 8},
}


def _value(indices: np.ndarray) -> np.ndarray:
    return RATES[indices]  # PCL's value model stand-in: the true success rate


def _build(name: str, tmp_path: Path, **params: Any) -> Curriculum:
    base = {"batch_size": M, "n": N, "seed": 3}
    base.update(EXTRA.get(name, lambda d: {})(tmp_path))
    base.update(params)
    return build_curriculum(name, base, num_prompts=P)


def _ctx(seed: int = 0, start_step: int = 1) -> FakeRolloutContext:
    return FakeRolloutContext(RATES, seed=seed, value_fn=_value, start_step=start_step)


@pytest.mark.parametrize("name", list_curricula())
def test_strategy_returns_only_its_own_metrics(name: str, tmp_path: Path) -> None:
    cur, ctx = _build(name, tmp_path), _ctx()
    for _ in range(STEPS):
        keys = set(cur.run_step(ctx))
        keys |= set(cur.observe(ctx.committed_with_rewards(), ctx.screened_with_rewards()))
        shared = sorted(k for k in keys if k.startswith("curriculum/"))
        assert not shared, f"{name} returns {shared}: the trainer owns every curriculum/ key (docs/metrics.md)"
        assert all("/" in k for k in keys), f"{name} returns keys without a method prefix: {sorted(keys)}"
        ctx.new_step()


@pytest.mark.parametrize("via", ["pickle", "torch"])
@pytest.mark.parametrize("name", list_curricula())
def test_state_round_trip_gives_the_same_next_draws(name: str, via: str, tmp_path: Path) -> None:
    cur = _build(name, tmp_path)
    run_steps(cur, _ctx(seed=1), STEPS)
    state = roundtrip_state(cur.state_dict(), via)
    resumed = _build(name, tmp_path)
    resumed.load_state_dict(state)
    ahead = run_steps(cur, _ctx(seed=2, start_step=STEPS + 1), STEPS)
    again = run_steps(resumed, _ctx(seed=2, start_step=STEPS + 1), STEPS)
    for step, ((i1, n1), (i2, n2)) in enumerate(zip(ahead, again, strict=True), start=STEPS + 1):
        np.testing.assert_array_equal(i1, i2, err_msg=f"{name}: step {step} draws other prompts after a resume")
        np.testing.assert_array_equal(n1, n2, err_msg=f"{name}: step {step} allocates otherwise after a resume")


@pytest.mark.parametrize("name", list_curricula())
def test_group_and_budget_invariants(name: str, tmp_path: Path) -> None:
    cur, ctx = _build(name, tmp_path), _ctx()
    min_n = 1 if get_curriculum_class(name).allows_singleton_groups else 2
    for _ in range(STEPS):
        cur.run_step(ctx)
        rec = ctx.record
        assert rec.committed, f"{name}: step {ctx.step} commits nothing"
        assert set(rec.committed) <= set(rec.generated), f"{name}: commits a group it never generated"
        assert not set(rec.committed) & set(rec.released), f"{name}: commits a released group"
        trained = ctx.committed_with_rewards()
        sizes = [g.n for g in trained]
        assert min(sizes) >= min_n, f"{name}: a trained group of {min(sizes)} response(s)"
        assert all(0 <= g.index < P for g in trained)
        assert rec.waves <= cur.config.max_gen_rounds, f"{name}: {rec.waves} generation waves in one step"
        cur.observe(trained, ctx.screened_with_rewards())
        ctx.new_step()


@pytest.mark.parametrize("name", list_curricula())
def test_predicted_success_is_none_or_a_probability_per_prompt(name: str, tmp_path: Path) -> None:
    # the trainer asks right after run_step for the committed prompts (before observe): docs/metrics.md
    cur, ctx = _build(name, tmp_path), _ctx()
    for _ in range(STEPS):
        cur.run_step(ctx)
        trained = ctx.committed_with_rewards()
        idx = np.array([g.index for g in trained], dtype=np.int64)
        pred = cur.predicted_success(idx)
        if pred is not None:
            assert isinstance(pred, np.ndarray) and pred.shape == idx.shape, f"{name}: shape {np.shape(pred)}"
            assert np.all((pred >= 0.0) & (pred <= 1.0)), f"{name}: predictions outside [0, 1]: {pred}"
        cur.observe(trained, ctx.screened_with_rewards())
        ctx.new_step()


def test_pcl_predicts_its_selection_values(tmp_path: Path) -> None:
    cur, ctx = _build("pcl", tmp_path), _ctx()
    cur.run_step(ctx)
    idx = np.array([g.index for g in ctx.committed_with_rewards()], dtype=np.int64)
    np.testing.assert_allclose(cur.predicted_success(idx), RATES[idx])  # V = the value stand-in, already in [0, 1]
    assert cur.predicted_success(np.array([i for i in range(P) if i not in set(idx.tolist())][:1])) is None
    assert _build("uniform", tmp_path).predicted_success(idx) is None


def test_pcl_with_k_1_trains_what_uniform_trains(tmp_path: Path) -> None:
    pcl = run_steps(_build("pcl", tmp_path, k=1), _ctx(), 2 * P // M)  # two passes over the pool
    uniform = run_steps(_build("uniform", tmp_path), _ctx(), 2 * P // M)
    for step, ((ip, np_), (iu, nu)) in enumerate(zip(pcl, uniform, strict=True), start=1):
        assert sorted(ip.tolist()) == sorted(iu.tolist()), f"step {step}: PCL k=1 trains other prompts than uniform"
        assert np_.tolist() == nu.tolist() == [N] * M
