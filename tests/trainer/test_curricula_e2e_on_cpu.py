"""Every online curriculum through its own entry point on the CPU backend (the trainer-integration "Done when").

Each run is a subprocess ``python -m recipes.main --config-name=<method> +platform=cpu`` on the demo assets (tiny
warmed-up policy, synthetic arithmetic prompts), a few steps long. Sizes were chosen with ``FakeRolloutContext``
simulations on the policy's measured per-prompt success rates so that the behaviour under test happens with
probability ~1:

- CurES (paper): 6 prompts (2 easy, 2 medium, 2 never solved), m = 4, n = 8: from step 2 on the drawn prompts have
  different posteriors, so the Neyman allocation is unequal; checked on the group sizes that reached the advantage.
- Kill and resume (CurES): generation is not reproducible across processes (the hf rollout seeds once per server and
  batches requests by arrival time), so a killed run cannot be compared with a separate uninterrupted one. Instead
  the killed run *is* the uninterrupted run up to its kill: it logs, at the start of step 3, the digest of its
  in-memory curriculum state and then the step-3 batch it trains (indices and allocations, drawn before generation
  from that state). The resumed run restores global_step_2 and must log the same digest and train the same batch.
- DS (k = 1, m = 4): one round of 4 candidates rarely holds 4 informative prompts, so a second round is needed.
- GRESO: 18 prompts, 6 never solved; once the first pass is over, prompts seen all-wrong are skipped (p_hard = 0.2).
- SPEED (exact): screening with n_init = 4, continuation to n = 8 in the next round, merged into one group of 8.
- GVM: a pilot table written in tmp_path with the project's ``gvm_table`` (n_x = 0, 1 and larger); the groups trained
  are exactly the table's n_x > 0 prompts with n_x responses each.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 900
STEP_LINE = re.compile(r"step:(\d+) - (.*)")
TRAINS_LINE = re.compile(r"curriculum step (\d+) trains index:size ([\d: ]+)\n")  # complete lines only
STATE_LINE = re.compile(r"curriculum step (\d+) state ([0-9a-f]{16})")


def _subset(src: Path, dst: Path, per_difficulty: dict[int, int]) -> Path:
    """The first k rows of each difficulty of the demo train file, re-indexed (extra_info.index = row)."""
    from verl_ext.data.contract import write_dataset

    df = pd.read_parquet(src)
    difficulty = np.array([e["difficulty"] for e in df["extra_info"]])
    rows = np.concatenate([np.flatnonzero(difficulty == d)[:k] for d, k in per_difficulty.items()])
    sub = df.iloc[rows].reset_index(drop=True)
    sub["extra_info"] = [dict(e, index=i) for i, e in enumerate(sub["extra_info"])]
    return write_dataset(sub, dst)


def _command(recipe: str, ckpt: Path, train: Path | None, steps: int, *overrides: str) -> list[str]:
    """The entry point of ``recipe`` on the CPU profile with the demo assets and small lengths."""
    from verl_ext.testing.assets import build_demo_assets

    assets = build_demo_assets()
    return [
        sys.executable, "-m", "recipes.main", f"--config-name={recipe}", "+platform=cpu",
        # the policy's own ChatML template: the PCL recipes' default model (Qwen3 base) sets a raw-content template
        f"actor_rollout_ref.model.path={assets.policy}", "actor_rollout_ref.model.custom_chat_template=null",
        f"data.train_files={train or assets.train}", f"data.val_files={assets.val}",
        "data.max_prompt_length=64", "data.max_response_length=24",
        f"trainer.total_training_steps={steps}", "trainer.total_epochs=100", "trainer.val_before_train=false",
        "trainer.test_freq=-1", "trainer.logger=[console]", f"trainer.default_local_dir={ckpt}",
        *overrides,
    ]  # fmt: skip


ENV = dict(os.environ, HF_HUB_OFFLINE="1", RAY_DEDUP_LOGS="0")


def _run(cmd: list[str], log_file: Path) -> str:
    """Run to completion, keep the log next to the run's checkpoints, return it."""
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=TIMEOUT)
    log = proc.stdout + proc.stderr
    log_file.write_text(log)
    assert proc.returncode == 0, log[-6000:]
    return log


def _metrics(log: str) -> dict[int, dict[str, float]]:
    """``{step: {metric: value}}`` from verl's console logger lines ``step:N - key:value - ...``."""
    out: dict[int, dict[str, float]] = {}
    for step, rest in STEP_LINE.findall(log):
        values = {}
        for item in rest.split(" - "):
            key, _, value = item.rpartition(":")
            try:
                values[key] = float(value)
            except ValueError:
                continue
        out[int(step)] = values
    return out


def _trained(log: str) -> dict[int, list[tuple[int, int]]]:
    """``{step: [(dataset index, group size), ...]}`` of the groups that reached the advantage."""
    return {
        int(step): [tuple(int(x) for x in pair.split(":")) for pair in body.split()]
        for step, body in TRAINS_LINE.findall(log)
    }


def _series(metrics: dict[int, dict[str, float]], key: str) -> list[float]:
    assert all(key in m for m in metrics.values()), (key, metrics)
    return [m[key] for _, m in sorted(metrics.items())]


# ---------------------------------------------------------------------------------------------- CurES + resume
CURES_STEPS = 4


def _session_pids(sid: int) -> list[int]:
    """Live processes of session ``sid`` (the killed run's driver, Ray's daemons and its workers, which Ray puts in
    process groups of their own but never in a new session)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(stat.parent.name))
    return pids


def _kill_session(sid: int) -> None:
    """SIGKILL every process of session ``sid`` at once, like a lost node; wait until none is left."""
    for _ in range(100):
        pids = _session_pids(sid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    raise AssertionError(f"processes of the killed run survive: {_session_pids(sid)}")


def _cures_command(tmp: Path, train: Path, steps: int) -> list[str]:
    return _command(
        "cures", tmp / "ckpt", train, steps,
        "data.train_batch_size=4", "actor_rollout_ref.rollout.n=8", "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "trainer.save_freq=2",
        "curriculum.params.n_min=2", "curriculum.params.pilot_n=2", "curriculum.params.n_max=16",
    )  # fmt: skip


@pytest.fixture(scope="module")
def cures_killed_and_resumed(tmp_path_factory):
    """Run CurES, SIGKILL all its processes during step 3 (global_step_2 saved), resume to the end.

    Returns the killed run's log, the resumed run's log and the checkpoint folder.
    """
    from verl_ext.testing.assets import build_demo_assets

    tmp = tmp_path_factory.mktemp("cures")
    train = _subset(build_demo_assets().train, tmp / "train.parquet", {0: 2, 4: 2, 7: 2})
    ckpt = tmp / "ckpt"
    tracker = ckpt / "latest_checkpointed_iteration.txt"
    killed_log = tmp / "killed.log"
    with open(killed_log, "w") as out:
        proc = subprocess.Popen(
            _cures_command(tmp, train, CURES_STEPS), cwd=ROOT, env=ENV, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + TIMEOUT
        try:
            while True:
                text = killed_log.read_text()
                saved = tracker.read_text().strip() if tracker.exists() else ""
                if saved == "2" and 3 in _trained(text):
                    _kill_session(proc.pid)
                    break
                assert proc.poll() is None, f"run ended before the kill point (tracker {saved!r}):\n{text[-6000:]}"
                assert saved in ("", "2"), f"kill window missed: global_step_{saved} already saved"
                assert time.monotonic() < deadline, "timed out waiting for step 3"
                time.sleep(0.2)
        finally:
            _kill_session(proc.pid)  # start_new_session: the session id is the driver's pid
            proc.wait(timeout=60)
    assert tracker.read_text().strip() == "2"
    resumed = _run(_cures_command(tmp, train, CURES_STEPS), tmp / "resumed.log")
    return killed_log.read_text(), resumed, ckpt


@pytest.mark.e2e
def test_cures_unequal_groups_reach_the_advantage(cures_killed_and_resumed):
    killed, resumed, _ = cures_killed_and_resumed
    metrics = {**_metrics(killed), **_metrics(resumed)}  # steps 1-2 (3 if logged before the kill), then 3-4
    assert sorted(metrics) == list(range(1, CURES_STEPS + 1)), sorted(metrics)
    trained = {**_trained(killed), **_trained(resumed)}
    lo, hi = _series(metrics, "curriculum/group_size_min"), _series(metrics, "curriculum/group_size_max")
    assert min(lo) >= 2, lo  # never a singleton group under GRPO
    assert any(a != b for a, b in zip(lo, hi)), (lo, hi)  # the Neyman allocation really was unequal
    assert any(0 < a < 1 for a in _series(metrics, "curriculum/rollout_acc"))  # the policy solves some, fails some
    for step, m in metrics.items():
        sizes = [n for _, n in trained[step]]
        # the advantage saw exactly CurES's allocation: 4 prompts, N = m·n = 32 responses in [n_min, n_max]
        assert len(sizes) == 4 and sum(sizes) == 32 and all(2 <= n <= 16 for n in sizes), (step, sizes)
        assert (min(sizes), max(sizes)) == (m["curriculum/group_size_min"], m["curriculum/group_size_max"])
        assert (m["cures/alloc_min"], m["cures/alloc_max"]) == (min(sizes), max(sizes)), (step, m)
        assert m["cures/n_mismatch"] == 0.0 and m["curriculum/padding_rows"] == 0.0


@pytest.mark.e2e
def test_cures_kill_and_resume_continues_the_same_curriculum(cures_killed_and_resumed):
    from verl_ext.trainer.trainer import state_digest

    killed, resumed, ckpt = cures_killed_and_resumed
    assert re.search(r"curriculum state restored from \S+global_step_2", resumed), resumed[-4000:]
    before, after = dict(STATE_LINE.findall(killed)), dict(STATE_LINE.findall(resumed))
    assert sorted(after) == ["3", "4"], after  # resumed at step 3, not from scratch
    saved = torch.load(ckpt / "global_step_2" / "curriculum_state.pt", weights_only=False)
    assert saved["global_steps"] == 2
    # in-memory state of the uninterrupted run at step 3 == the checkpoint file == the state the resumed run restored
    assert before["3"] == state_digest(saved["curriculum"]) == after["3"]
    # so the step-3 batch (indices in sorted order, with their allocations) is the one the killed run trained
    assert _trained(killed)[3] == _trained(resumed)[3]
    final = torch.load(ckpt / "global_step_4" / "curriculum_state.pt", weights_only=False)
    assert final["global_steps"] == 4 and final["curriculum"]["step"] == 4
    # the posterior holds the evidence of all 4 steps (2 restored, 2 resumed): Σ (α + β − 2) = 4 steps · 32 responses
    post = final["curriculum"]["posterior"]
    assert float(np.sum(post["alpha"] + post["beta"] - 2.0)) == pytest.approx(CURES_STEPS * 32)
    # coverage is exact across the resume: the per-prompt tracker is part of curriculum_state.pt (docs/metrics.md)
    ever = {i for step in (1, 2) for i, _ in _trained(killed)[step]}
    tracked = np.unpackbits(saved["prompt_tracker"]["trained"], count=6).astype(bool)
    assert set(np.flatnonzero(tracked).tolist()) == ever
    for step in (3, 4):
        ever |= {i for i, _ in _trained(resumed)[step]}
        m = _metrics(resumed)[step]
        assert m["curriculum/pool/coverage"] == pytest.approx(len(ever) / 6), (step, ever)
        assert m["curriculum/pool/unseen"] <= 1.0 - len(ever) / 6 + 1e-9
    # a Beta posterior predicts p: calibration of its posterior mean at selection vs the trained groups' success
    from verl_ext.curriculum import get_curriculum_class
    from verl_ext.curriculum.base import Curriculum

    if get_curriculum_class(final["fingerprint"]["name"]).predicted_success is not Curriculum.predicted_success:
        for m in _metrics(resumed).values():
            assert 0.0 <= m["curriculum/calib/brier"] <= 1.0, m


# ---------------------------------------------------------------------------------------------- online filters
@pytest.mark.e2e
def test_ds_fills_the_batch_over_several_rounds(tmp_path):
    log = _run(_command(
        "ds", tmp_path / "ckpt", None, 2,
        "data.train_batch_size=4", "actor_rollout_ref.rollout.n=4", "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "trainer.save_freq=-1", "curriculum.params.k=1",
    ), tmp_path / "train.log")  # fmt: skip
    metrics = _metrics(log)
    assert sorted(metrics) == [1, 2]
    rounds = _series(metrics, "curriculum/gen_rounds")
    assert max(rounds) >= 2, rounds  # the first k·m = 4 candidates did not hold 4 informative prompts
    assert rounds == _series(metrics, "ds/rounds")
    for m in metrics.values():
        assert m["ds/candidates"] == 4 * m["ds/rounds"] and m["ds/kept"] >= 4
        assert m["curriculum/trained_prompts"] == 4 and m["curriculum/effective_ratio"] == 1.0
        assert m["curriculum/group_size_min"] == m["curriculum/group_size_max"] == 4
    # observability (docs/metrics.md): DS trains informative groups only, screens the others in the same first pass
    from verl_ext.testing.assets import build_demo_assets

    pool = len(pd.read_parquet(build_demo_assets().train))
    seen = 0.0
    for step, m in sorted(metrics.items()):
        seen += m["ds/candidates"]  # first pass of the pass sampler: distinct prompts, each rolled out once
        assert m["curriculum/wasted_token_frac"] == 0.0
        assert m["curriculum/pool/coverage"] == pytest.approx(4 * step / pool)
        assert m["curriculum/pool/unseen"] == pytest.approx(1.0 - seen / pool)
        shares = [m[f"curriculum/pool/seen_{k}"] for k in ("lt_0.05", "between", "gt_0.95")]
        assert sum(shares) == pytest.approx(1.0) and shares[1] >= 4 * step / seen
        assert not any(k.startswith("curriculum/calib/") for k in m)  # DS predicts nothing
        select, observe = m["timing_s/curriculum_select"], m["timing_s/curriculum_observe"]
        assert 0.0 < select < m["timing_s/step"] - m["timing_s/gen"] and 0.0 < observe < m["timing_s/step"]
        assert "curriculum/select_s" not in m and "curriculum/observe_s" not in m


@pytest.mark.e2e
def test_greso_skips_prompts_seen_with_zero_variance(tmp_path):
    from verl_ext.testing.assets import build_demo_assets

    train = _subset(build_demo_assets().train, tmp_path / "train.parquet", {7: 6, 3: 8, 1: 4})
    log = _run(_command(
        "greso", tmp_path / "ckpt", train, 4,
        "data.train_batch_size=2", "actor_rollout_ref.rollout.n=8", "actor_rollout_ref.actor.ppo_mini_batch_size=2",
        "trainer.save_freq=-1",
        "curriculum.params.rollout_batch=6", "curriculum.params.min_rollout_batch=1",
        "curriculum.params.fetch_chunk=2", "curriculum.params.p_easy=0.95", "curriculum.params.p_hard=0.2",
    ), tmp_path / "train.log")  # fmt: skip
    metrics = _metrics(log)
    assert sorted(metrics) == [1, 2, 3, 4]
    skipped = [a + b for a, b in zip(_series(metrics, "greso/skipped_hard"), _series(metrics, "greso/skipped_easy"))]
    assert skipped[0] == 0 and max(skipped) > 0, skipped  # nothing to skip before any history; skips later
    assert _series(metrics, "greso/history_size")[-1] == sum(_series(metrics, "curriculum/prompts_rolled_out"))
    for m in metrics.values():
        assert m["greso/rollouts_saved"] == 8 * (m["greso/skipped_hard"] + m["greso/skipped_easy"])
        assert m["curriculum/trained_prompts"] == 2 and m["curriculum/effective_ratio"] == 1.0
        assert m["curriculum/group_size_min"] == m["curriculum/group_size_max"] == 8


@pytest.mark.e2e
def test_speed_exact_screens_then_continues_into_one_group(tmp_path):
    log = _run(_command(
        "speed", tmp_path / "ckpt", None, 2,
        "data.train_batch_size=2", "actor_rollout_ref.rollout.n=8", "actor_rollout_ref.actor.ppo_mini_batch_size=2",
        "trainer.save_freq=-1",
        "curriculum.params.n_init=4", "curriculum.params.k=2", "curriculum.params.mode=exact",
    ), tmp_path / "train.log")  # fmt: skip
    metrics = _metrics(log)
    assert sorted(metrics) == [1, 2]
    for m in metrics.values():
        assert m["speed/screened"] >= 4 and m["speed/continued"] >= 2, m
        assert m["curriculum/gen_rounds"] >= 2  # screening round(s), then the continuation (or flush) round
        assert m["speed/responses_screen"] == 4 * m["speed/screened"]
        assert m["speed/responses_cont"] == 4 * m["speed/continued"]
        assert m["curriculum/responses"] == m["speed/responses_screen"] + m["speed/responses_cont"]
        # n_init screening responses + n − n_init continuation responses reached the advantage as ONE group of n
        assert m["curriculum/group_size_min"] == m["curriculum/group_size_max"] == 8
        assert m["curriculum/trained_prompts"] == 2 and m["curriculum/effective_ratio"] == 1.0
        # a round is one wave whatever it dispatches (screening + continuation together); verl timed the rounds
        assert 1 <= m["curriculum/gen_waves"] <= m["curriculum/gen_rounds"]
        assert m["timing_s/gen"] > 0 and m["perf/total_num_tokens"] > 0


# ---------------------------------------------------------------------------------------------------------- GVM
@pytest.mark.e2e
def test_gvm_trains_the_pilot_allocation(tmp_path):
    from verl_ext.pilot.files import write_table
    from verl_ext.pilot.gvm_pilot import gvm_table
    from verl_ext.testing.assets import build_demo_assets

    train = _subset(build_demo_assets().train, tmp_path / "train.parquet", {0: 2, 3: 3, 4: 3})
    # a K = 4 pilot: correct counts and mean gradient norms per prompt -> p, G, w and n_x (budget 4·8 = 32)
    counts = np.array([4, 3, 2, 1, 0, 2, 3, 4])
    correct = np.arange(4)[None, :] < counts[:, None]
    norms = np.repeat(np.array([1.0, 4.0, 2.0, 8.0, 1.0, 0.5, 0.3, 1.0])[:, None], 4, axis=1)
    table = gvm_table(np.arange(8), correct, norms)
    alloc = dict(zip(table["index"].tolist(), table["n"].tolist()))
    assert 0 in alloc.values() and 1 in alloc.values() and max(alloc.values()) > 4  # drops, singletons, spread
    pilot = write_table(table, tmp_path / "gvm_iter1.parquet")
    log = _run(_command(
        "gvm", tmp_path / "ckpt", train, 2,
        "data.train_batch_size=4", "actor_rollout_ref.rollout.n=1", "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "trainer.save_freq=-1", f"curriculum.params.pilot_path={pilot}",
    ), tmp_path / "train.log")  # fmt: skip
    metrics, trained = _metrics(log), _trained(log)
    assert sorted(metrics) == [1, 2] and sorted(trained) == [1, 2]
    # one pass over the 8 pilot rows: every n_x > 0 prompt trained once with n_x responses, n_x = 0 never
    assert any(0 < a < 1 for a in _series(metrics, "curriculum/rollout_acc"))
    got = [pair for step in (1, 2) for pair in trained[step]]
    assert sorted(got) == sorted((i, n) for i, n in alloc.items() if n > 0)
    for step, m in metrics.items():
        sizes = [n for _, n in trained[step]]
        assert m["curriculum/responses"] == sum(sizes) == m["gvm/responses_per_step"]
        assert m["gvm/singleton_groups"] == sizes.count(1)
        assert m["curriculum/group_size_min"] == min(sizes) and m["curriculum/group_size_max"] == max(sizes)
        # verl pads the step to a multiple of ppo_mini_batch_size · rollout.n = 4 rows; one optimizer step per 4
        total = sum(sizes)
        assert m["curriculum/padding_rows"] == (-total) % 4
        assert m["curriculum/optimizer_steps"] == -(-total // 4)
        assert m["curriculum/gen_waves"] == 1.0  # submitted, awaited once by verl's replay buffer
