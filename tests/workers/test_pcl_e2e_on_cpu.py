"""PCL end to end through our entry point on the CPU backend: 3 steps, then a resume in a new process.

``python -m recipes.main --config-name=pcl +platform=cpu`` with the demo assets (tiny warmed-up policy, synthetic
arithmetic prompts, the tokenizer's chat template as in scripts/demo.sh), m = 4 prompts a step, k = 4, n = 4 responses.
The value model gets its CPU engine settings from the policy's (configs/pcl.yaml interpolations): nothing PCL-specific
is overridden for the platform. What is checked, from the run's own artefacts (docs/pcl.md §3, §6, §7):

1. every step the value worker scored k·m fresh candidates (selection records in ``curriculum_state.pt``); the
   first pick, before any value update, sees the constant head initialisation (V = head_init_value = 0.5 for every
   prompt: the first m candidates are kept), later picks a model's varying outputs;
2. the trained prompts are exactly the m candidates closest to τ by those raw scores (recomputed here, ties by
   candidate order), and they are what TransferQueue returned rewards for; the calibration metrics are logged;
3. each value update moves V on the trained prompts towards their ȳ (``rescore_trained`` records V just before
   and after each update). Two optimizer settings differ from the paper's for this: lr 1e-4 instead of 1e-6 (one
   step at 1e-6 moves the tiny model's outputs by ~1e-6, within the scoring noise of differently composed
   batches), and AdamW β1 = 0 instead of 0.9, so that every update is a (diagonally preconditioned) gradient step
   on its own batch; with momentum, earlier batches' gradients can outweigh the current one and the MSE on the
   current prompts may rise (seen at step 3: 0.1542 -> 0.1555), so only the first update would be a sure descent;
4. a resume from step 2 in a new process restores the value model bit-exactly: the parameter digest logged
   after the load equals the one logged (and written) at the step-2 save and differs from the fresh model's
   (itself the same in both runs: the head is seeded), and the restored model's predictions on step 3's prompts
   equal the uninterrupted run's bit for bit.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
M, K, N, TAU = 4, 4, 4, 0.5
SHA = r"([0-9a-f]{64})"
METRICS = (
    "pcl/select/abs_dev", "pcl/select/v_mean", "pcl/select/cand_v_mean", "pcl/candidates",
    "pcl/value/mse", "pcl/value/loss", "pcl/value/grad_norm", "pcl/value/mse_after",
    "pcl/time/value_score_s", "pcl/time/value_train_s", "pcl/time/value_rescore_s",
    "curriculum/train_acc", "time/train_gen_hours", "curriculum/calib/bias", "curriculum/calib/brier",
)  # fmt: skip


def _run(assets, ckpt: Path, steps: int, log_file: Path) -> str:
    cmd = [
        sys.executable, "-m", "recipes.main", "--config-name=pcl", "+platform=cpu",
        f"actor_rollout_ref.model.path={assets.policy}",
        # the tiny policy was warmed up on its tokenizer's chat template, not the model group's pass-through one
        "actor_rollout_ref.model.custom_chat_template=null",
        f"data.train_files={assets.train}", f"data.val_files={assets.val}",
        f"data.train_batch_size={M}", "data.max_prompt_length=64", "data.max_response_length=24",
        f"actor_rollout_ref.rollout.n={N}", f"actor_rollout_ref.actor.ppo_mini_batch_size={M}",
        f"trainer.total_training_steps={steps}", "trainer.total_epochs=100", "trainer.val_before_train=false",
        "trainer.test_freq=-1", "trainer.save_freq=2", "trainer.logger=[console]",
        f"trainer.default_local_dir={ckpt}",
        f"curriculum.params.k={K}", f"curriculum.params.tau={TAU}", "curriculum.params.rescore_trained=true",
        "curriculum.value_model.optim.lr=1e-4", "curriculum.value_model.optim.betas=[0.0,0.999]",
        # the EV diagnostic after every step: 8 random prompts scored after the value update, 8 rollouts next step
        "curriculum.params.diag_every=1", "curriculum.params.diag_prompts=8", "curriculum.params.diag_n=8",
    ]  # fmt: skip
    env = dict(os.environ, HF_HUB_OFFLINE="1", RAY_DEDUP_LOGS="0")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    log_file.write_text(log)  # kept in pytest's tmp dir for a look after a failure
    assert proc.returncode == 0, log[-4000:]
    return log


def _step_metrics(log: str) -> dict[int, dict[str, float]]:
    """Console logger lines ``step:N - key:value - ...`` -> {N: {key: value}} (numeric values only)."""
    out: dict[int, dict[str, float]] = {}
    for line in re.findall(r"step:(\d+) - (.*)", log):
        values = {}
        for item in line[1].split(" - "):
            key, _, value = item.partition(":")
            try:
                values[key.strip()] = float(value)
            except ValueError:
                continue
        out[int(line[0])] = values
    return out


def _closest(scores: np.ndarray, m: int, tau: float) -> list[int]:
    """The m positions nearest τ by the raw score, ties by position: written out, independent of select_closest."""
    dev = [abs(float(v) - tau) for v in scores]
    return sorted(sorted(range(len(dev)), key=lambda i: (dev[i], i))[:m])


def _records(step_dir: Path) -> list[dict]:
    state = torch.load(step_dir / "curriculum_state.pt", weights_only=False)
    assert state["fingerprint"]["name"] == "pcl"
    return state["curriculum"]["selections"]


@pytest.mark.e2e
def test_pcl_three_steps_and_bit_exact_resume_through_recipes_main(tmp_path):
    from verl_ext.testing.assets import build_demo_assets

    assets = build_demo_assets()
    ckpt_a, ckpt_b = tmp_path / "a", tmp_path / "b"
    log_a = _run(assets, ckpt_a, steps=3, log_file=tmp_path / "run_a.log")  # saves at steps 2 and 3

    metrics = _step_metrics(log_a)
    assert sorted(metrics) == [1, 2, 3]
    for step, values in metrics.items():
        missing = [name for name in METRICS if name not in values]
        assert not missing, (step, missing)
        assert values["pcl/candidates"] == K * M
        # 5. the EV diagnostic scored after step t's value update is rolled out and logged at step t + 1
        if step == 1:
            assert "pcl/diag/prompts" not in values
        else:
            assert values["pcl/diag/prompts"] == 8 and values["pcl/diag/responses"] == 64, values
            assert -10.0 < values["pcl/diag/ev_rollouts_8"] <= 1.0 and "pcl/diag/ev" in values, values

    records = _records(ckpt_a / "global_step_3")
    assert [r["step"] for r in records] == [1, 2, 3, None]  # the last pick is pending for step 4
    assert [r["selected_after"] for r in records] == [0, 1, 2, 3]
    seen: set[int] = set()
    for r in records:
        # 1. k·m distinct candidates, fresh from the pass (no prompt drawn twice in this first pass), all scored
        cand, scores = r["candidates"], r["scores"]
        assert cand.shape == scores.shape == (K * M,) and len(set(cand.tolist())) == K * M
        assert not seen & set(cand.tolist())
        seen |= set(cand.tolist())
        if r["selected_after"] == 0:  # the untrained head: weight 0, bias 0.5 (configs/pcl.yaml head_init_value)
            assert np.all(scores == 0.5) and r["kept"].tolist() == list(range(M))
        else:
            assert np.isfinite(scores).all() and np.ptp(scores) > 0  # a model's outputs, not a constant
        # 2. exactly the m closest to τ by those scores
        assert r["kept"].tolist() == _closest(scores, M, TAU)
    for step, r in zip((1, 2, 3), records[:3]):
        kept = r["candidates"][r["kept"]]
        assert sorted(r["trained"].tolist()) == sorted(kept.tolist()), step  # what was rolled out and trained
        # 3. V on the trained prompts just before the update is the V that selected them (one-step lag) ...
        score_of = dict(zip(r["candidates"].tolist(), r["scores"].tolist()))
        before, after, y = r["pred_before"], r["pred_after"], r["targets"]
        np.testing.assert_allclose(before, [score_of[i] for i in r["trained"].tolist()], atol=1e-4)
        # ... the engine trained on the MSE of exactly those (prompt, ȳ) pairs ...
        assert metrics[step]["pcl/value/loss"] == pytest.approx(np.mean((before - y) ** 2), rel=1e-3, abs=1e-7)
        # ... and one step moved V towards ȳ
        assert np.abs(after - before).max() > 1e-3, step
        assert np.mean((after - y) ** 2) < np.mean((before - y) ** 2), (step, before, after, y)
        assert metrics[step]["pcl/value/mse_after"] == pytest.approx(np.mean((after - y) ** 2), rel=1e-6)

    saved = {int(s): (p, d) for p, s, d in re.findall(rf"PCL value model saved to (\S+) at step (\d+); "
                                                    rf"parameter sha256 {SHA}", log_a)}  # fmt: skip
    assert sorted(saved) == [2, 3] and saved[2][1] != saved[3][1]
    digest_file = ckpt_a / "global_step_2" / "pcl_value" / "param_digest.json"
    assert f'"sha256": "{saved[2][1]}"' in digest_file.read_text()

    # 4. resume from step 2 in a new process (resume_mode=auto over a copy of run A's step-2 folder)
    ckpt_b.mkdir()
    shutil.copytree(ckpt_a / "global_step_2", ckpt_b / "global_step_2")
    (ckpt_b / "latest_checkpointed_iteration.txt").write_text("2")
    log_b = _run(assets, ckpt_b, steps=3, log_file=tmp_path / "run_b.log")
    assert sorted(_step_metrics(log_b)) == [3]
    (init_a,) = re.findall(rf"PCL value worker group ready .*parameter sha256 {SHA}", log_a)
    (fresh,) = re.findall(rf"PCL value worker group ready .*parameter sha256 {SHA}", log_b)
    assert fresh == init_a  # the head's start is fixed: the same seed starts from the same value model
    (restored,) = re.findall(rf"PCL value model restored from (\S+); parameter sha256 {SHA}", log_b)
    assert restored[0].endswith(os.path.join("global_step_2", "pcl_value"))
    assert restored[1] == saved[2][1] != fresh
    records_b = _records(ckpt_b / "global_step_3")
    assert [r["step"] for r in records_b] == [1, 2, 3, None]
    a3, b3 = records[2], records_b[2]
    for key in ("candidates", "scores", "kept", "trained"):
        np.testing.assert_array_equal(b3[key], a3[key])
    # the restored V scores step 3's prompts exactly as the uninterrupted run's V did
    np.testing.assert_array_equal(b3["pred_before"], a3["pred_before"])
