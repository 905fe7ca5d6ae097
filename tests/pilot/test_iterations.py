"""The pilot → train → merge driver: dry-run commands, manifest, skip/resume logic (commands recorded, no GPU)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from verl_ext.pilot.iterations import IterationPlan, plan_stages, run_iterations


class Recorder:
    """Stands in for subprocess: records argv and creates the stage's output, optionally failing at one call."""

    def __init__(self, plan: IterationPlan, fail_at: int | None = None, create: bool = True) -> None:
        self.plan, self.fail_at, self.create, self.calls = plan, fail_at, create, []

    def __call__(self, argv: list[str]) -> None:
        self.calls.append(argv)
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            raise RuntimeError("simulated crash")
        if not self.create:
            return
        outputs = {s.argv[2]: s.output for i in range(1, self.plan.iterations + 1) for s in plan_stages(self.plan, i)
                   if s.argv == argv}  # fmt: skip
        (out,) = outputs.values()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.mkdir() if out.name == "actor" else out.write_text("x")


def _plan(tmp_path: Path, method: str = "gvm", **kw: object) -> IterationPlan:
    return IterationPlan(method=method, base_model="models/base", subset_template="data/numina_{i}/train.parquet",
                         work_dir=tmp_path / "wd", iterations=3, python="python", **kw)  # fmt: skip


def test_dry_run_prints_every_command(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "cures", pilot_args=("--seed", "42"), train_overrides=("trainer.n_gpus_per_node=8",))
    lines: list[str] = []
    rec = Recorder(plan)
    run_iterations(plan, rec, dry_run=True, echo=lines.append)
    assert rec.calls == [] and not (tmp_path / "wd").exists()
    text = "\n".join(lines)
    wd = tmp_path / "wd"
    assert f"python -m recipes.cures.stage0_cures --data data/numina_2/train.parquet --model {wd}/iter_01/hf " \
           f"--iteration 2 --out-dir {wd}/iter_02 --seed 42" in text  # fmt: skip
    assert (
        f"python -m recipes.main --config-name=cures curriculum=cures_release actor_rollout_ref.model.path=models/base "
        f"data.train_files=data/numina_1/train.parquet curriculum.params.release_table={wd}/iter_01/"
        f"stage0_iter1.parquet run.iteration=1 trainer.total_training_steps=10 trainer.total_epochs=2 "
        f"trainer.save_freq=10 trainer.default_local_dir={wd}/iter_01/ckpt trainer.n_gpus_per_node=8"
    ) in text
    assert (
        f"python -m verl.model_merger merge --backend fsdp --local_dir {wd}/iter_03/ckpt/global_step_10/actor "
        f"--target_dir {wd}/iter_03/hf"
    ) in text
    assert text.count("# iteration") == 9


def test_runs_records_and_skips_on_rerun(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    rec = Recorder(plan)
    manifest = run_iterations(plan, rec)
    assert len(rec.calls) == 9 and [c[2] for c in rec.calls[:3]] == ["recipes.gvm.pilot_gvm", "recipes.main",
                                                                       "verl.model_merger"]  # fmt: skip
    assert rec.calls[1][3] == "--config-name=gvm"
    assert rec.calls[3][rec.calls[3].index("--model") + 1] == str(tmp_path / "wd/iter_01/hf")  # chained weights
    on_disk = json.loads((tmp_path / "wd/manifest.json").read_text())
    assert on_disk == manifest and all(on_disk["iterations"][str(i)]["finished"] for i in (1, 2, 3))
    assert on_disk["iterations"]["2"]["model_in"] == str(tmp_path / "wd/iter_01/hf")
    again = Recorder(plan)
    run_iterations(plan, again)
    assert again.calls == []
    lines: list[str] = []
    run_iterations(plan, again, dry_run=True, echo=lines.append)
    assert sum("(done, skipped)" in line for line in lines) == 9


def test_crash_resumes_at_the_failed_stage(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_iterations(plan, Recorder(plan, fail_at=5))  # iteration 2 train
    stages = json.loads((tmp_path / "wd/manifest.json").read_text())["iterations"]
    assert stages["1"]["finished"] and list(stages["2"]["stages"]) == ["pilot"]
    rec = Recorder(plan)
    run_iterations(plan, rec)
    assert [c[2] for c in rec.calls][:2] == ["recipes.main", "verl.model_merger"] and len(rec.calls) == 5
    assert f"actor_rollout_ref.model.path={tmp_path / 'wd/iter_01/hf'}" in rec.calls[0]


def test_missing_output_is_an_error(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    with pytest.raises(RuntimeError, match="gvm_iter1.parquet is missing"):
        run_iterations(plan, Recorder(plan, create=False))
    assert not (tmp_path / "wd/manifest.json").exists()


def test_other_run_manifest_refused(tmp_path: Path) -> None:
    run_iterations(_plan(tmp_path), Recorder(_plan(tmp_path)))
    other = _plan(tmp_path, "cures")
    with pytest.raises(ValueError, match="new --work-dir"):
        run_iterations(other, Recorder(other))


def test_experiment_override_replaces_curriculum_default(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "cures", train_overrides=("experiment=cures_table1/qwen2.5-math-1.5b_cures-grpo",))
    train = plan_stages(plan, 1)[1].argv
    assert "curriculum=cures_release" not in train and train[-1].startswith("experiment=")


@pytest.mark.parametrize(("method", "row"), [("gvm", "gvm-grpo"), ("cures", "cures-grpo")])
def test_train_overrides_compose(tmp_path: Path, method: str, row: str) -> None:
    """The driver's training overrides compose with the recipe config and a Table 1 overlay (Hydra compose)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    plan = _plan(tmp_path, method, train_overrides=(f"experiment=cures_table1/qwen2.5-math-1.5b_{row}",))
    argv = plan_stages(plan, 2)[1].argv
    assert argv[2:4] == ["recipes.main", f"--config-name={method}"]
    GlobalHydra.instance().clear()
    configs = Path(__file__).resolve().parents[2] / "configs"
    with initialize_config_dir(config_dir=str(configs), version_base=None):
        cfg = compose(config_name=method, overrides=argv[4:])
    GlobalHydra.instance().clear()
    assert cfg.actor_rollout_ref.model.path == str(tmp_path / "wd/iter_01/hf")
    assert cfg.data.train_files == "data/numina_2/train.parquet" and cfg.run.iteration == 2
    assert cfg.trainer.total_training_steps == 10 and cfg.trainer.total_epochs == 2 and cfg.trainer.save_freq == 10
    key = "pilot_path" if method == "gvm" else "release_table"
    assert cfg.curriculum.params[key] == str(plan.table(2))
    if method == "cures":
        assert cfg.curriculum.name == "cures_release"  # CurES is three strategies; release is its own class


def test_script_dry_run_subprocess(tmp_path: Path) -> None:
    import subprocess

    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "scripts/run_iterations.py", "--method", "gvm", "--base-model", "m",
                          "--subset-template", "d_{i}.parquet", "--work-dir", str(tmp_path / "w"), "--iterations",
                          "1", "--pilot-args", "--k 8", "--dry-run", "--", "trainer.n_gpus_per_node=8"],
                         cwd=repo, capture_output=True, text=True, check=True)  # fmt: skip
    cmds = [shlex.split(line) for line in out.stdout.splitlines() if not line.startswith("#")]
    assert len(cmds) == 3 and cmds[0][-2:] == ["--k", "8"] and cmds[1][-1] == "trainer.n_gpus_per_node=8"
    assert not (tmp_path / "w").exists()
