"""Resumable pilot → train → merge driver of GVM (docs/methods/gvm.md) and CurES release (docs/cures.md).

For i = 1..T on subset i, from the previous iteration's merged weights (the base model for i = 1):

1. pilot: ``python -m recipes.gvm.pilot_gvm`` / ``recipes.cures.stage0_cures`` → the iteration's table;
2. train: ``python -m recipes.main --config-name=gvm`` / ``--config-name=cures`` for ``steps`` steps (fresh optimizer,
   KL reference = the starting weights, checkpoint folder per iteration);
3. merge: ``python -m verl.model_merger merge --backend fsdp`` of ``global_step_<steps>/actor`` to Hugging Face.

Each finished stage is recorded in ``<work_dir>/manifest.json`` (written atomically) with its command and output;
a rerun skips finished stages and iterations, and refuses a manifest made for another method, model or data.
Commands run through an injectable ``Runner`` so tests record them instead of launching GPUs.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verl_ext.pilot.files import write_json

logger = logging.getLogger(__name__)

__all__ = ["METHODS", "IterationPlan", "Stage", "plan_stages", "run_iterations", "subprocess_runner"]

Runner = Callable[[list[str]], None]
STAGES = ("pilot", "train", "merge")


@dataclass(frozen=True)
class MethodSpec:
    """The pilot's entry module, the training run's primary config (``recipes.main --config-name``), and the table's
    file name / config key of one iterated method."""

    pilot_module: str
    train_config: str
    table_name: str
    table_key: str
    train_defaults: tuple[str, ...] = ()


METHODS: dict[str, MethodSpec] = {
    "gvm": MethodSpec(
        "recipes.gvm.pilot_gvm", "gvm", "gvm_iter{i}.parquet", "curriculum.params.pilot_path"
    ),  # fmt: skip
    # the cures config defaults to paper mode; release needs its curriculum group (unless an experiment sets it)
    "cures": MethodSpec(
        "recipes.cures.stage0_cures",
        "cures",
        "stage0_iter{i}.parquet",
        "curriculum.params.release_table",
        ("curriculum=cures_release",),
    ),  # fmt: skip
}


@dataclass(frozen=True)
class IterationPlan:
    """One pipeline run. ``subset_template`` holds ``{i}`` (e.g. ``data/prepared/qwen/numina_{i}/train.parquet``)."""

    method: str
    base_model: str
    subset_template: str
    work_dir: Path
    iterations: int = 15
    steps: int = 10
    epochs: int = 2
    pilot_args: tuple[str, ...] = ()
    train_overrides: tuple[str, ...] = ()
    python: str = field(default=sys.executable)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {sorted(METHODS)}")
        if "{i}" not in self.subset_template:
            raise ValueError(f"subset_template {self.subset_template!r} needs an {{i}} placeholder for the subset")
        if self.iterations < 1 or self.steps < 1 or self.epochs < 1:
            raise ValueError("iterations, steps and epochs must all be >= 1 (CurES/GVM: 15, 10, 2)")

    def iter_dir(self, i: int) -> Path:
        return Path(self.work_dir) / f"iter_{i:02d}"

    def subset(self, i: int) -> str:
        return self.subset_template.format(i=i)

    def table(self, i: int) -> Path:
        return self.iter_dir(i) / METHODS[self.method].table_name.format(i=i)

    def checkpoint(self, i: int) -> Path:
        return self.iter_dir(i) / "ckpt"

    def actor_dir(self, i: int) -> Path:
        return self.checkpoint(i) / f"global_step_{self.steps}" / "actor"

    def merged(self, i: int) -> Path:
        return self.iter_dir(i) / "hf"

    def model_in(self, i: int) -> str:
        """Weights iteration i starts from: the base model, then the previous iteration's merged folder."""
        return self.base_model if i == 1 else str(self.merged(i - 1))

    def identity(self) -> dict[str, Any]:
        """What a manifest must match to be resumed."""
        return {"method": self.method, "base_model": self.base_model, "subset_template": self.subset_template,
                "steps": self.steps}  # fmt: skip


@dataclass(frozen=True)
class Stage:
    """One command of an iteration and the path that proves it finished."""

    name: str
    argv: list[str]
    output: Path


def _train_argv(plan: IterationPlan, i: int) -> list[str]:
    spec = METHODS[plan.method]
    user_groups = {o.split("=", 1)[0] for o in plan.train_overrides}
    defaults = [] if {"experiment", "curriculum"} & user_groups else list(spec.train_defaults)
    return [
        plan.python, "-m", "recipes.main", f"--config-name={spec.train_config}", *defaults,
        f"actor_rollout_ref.model.path={plan.model_in(i)}",
        f"data.train_files={plan.subset(i)}",
        f"{spec.table_key}={plan.table(i)}",
        f"run.iteration={i}",
        f"trainer.total_training_steps={plan.steps}",
        f"trainer.total_epochs={plan.epochs}",
        f"trainer.save_freq={plan.steps}",  # the last step must be checkpointed for the merge
        f"trainer.default_local_dir={plan.checkpoint(i)}",
        *plan.train_overrides,
    ]  # fmt: skip


def plan_stages(plan: IterationPlan, i: int) -> list[Stage]:
    """The pilot, train and merge commands of iteration i (1-based), in order."""
    spec = METHODS[plan.method]
    pilot = [plan.python, "-m", spec.pilot_module, "--data", plan.subset(i), "--model", plan.model_in(i),
             "--iteration", str(i), "--out-dir", str(plan.iter_dir(i)), *plan.pilot_args]  # fmt: skip
    merge = [plan.python, "-m", "verl.model_merger", "merge", "--backend", "fsdp",
             "--local_dir", str(plan.actor_dir(i)), "--target_dir", str(plan.merged(i))]  # fmt: skip
    return [
        Stage("pilot", pilot, plan.table(i)),
        Stage("train", _train_argv(plan, i), plan.actor_dir(i)),
        Stage("merge", merge, plan.merged(i) / "config.json"),
    ]


def subprocess_runner(cwd: Path | None = None) -> Runner:
    """Run a command, raising ``CalledProcessError`` on a non-zero exit (the manifest is then left unchanged)."""

    def run(argv: list[str]) -> None:
        logger.info("running: %s", shlex.join(argv))
        subprocess.run(argv, check=True, cwd=cwd)

    return run


def load_manifest(plan: IterationPlan) -> dict[str, Any]:
    """The manifest of ``plan.work_dir`` (a fresh one if absent); refuses one made for another run."""
    path = Path(plan.work_dir) / "manifest.json"
    if not path.is_file():
        return {**plan.identity(), "iterations": {}}
    manifest = json.loads(path.read_text())
    theirs = {k: manifest.get(k) for k in plan.identity()}
    if theirs != plan.identity():
        raise ValueError(
            f"{path} was written for {theirs}, not {plan.identity()}; resume with the same arguments or pass a new "
            "--work-dir"
        )
    return manifest


def _record(plan: IterationPlan, manifest: dict[str, Any], i: int, stage: Stage) -> None:
    entry = manifest["iterations"].setdefault(str(i), {"model_in": plan.model_in(i), "stages": {}})
    entry["stages"][stage.name] = {
        "argv": stage.argv,
        "output": str(stage.output),
        "finished_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if set(STAGES) <= set(entry["stages"]):
        entry["finished"] = True
        entry["model_out"] = str(plan.merged(i))
    write_json(Path(plan.work_dir) / "manifest.json", manifest)


def _done(manifest: dict[str, Any], i: int, stage: str) -> bool:
    return stage in manifest["iterations"].get(str(i), {}).get("stages", {})


def _stdout(text: str) -> None:
    sys.stdout.write(text + "\n")


def run_iterations(plan: IterationPlan, runner: Runner, dry_run: bool = False,
                   echo: Callable[[str], None] = _stdout) -> dict[str, Any]:  # fmt: skip
    """Run (or, with ``dry_run``, print via ``echo``) every unfinished stage of iterations 1..T; returns the manifest.

    A stage counts as finished once its command exits 0 and its output exists; then it is recorded.
    """
    manifest = load_manifest(plan)
    for i in range(1, plan.iterations + 1):
        for stage in plan_stages(plan, i):
            done = _done(manifest, i, stage.name)
            if dry_run:
                echo(f"# iteration {i} {stage.name}{' (done, skipped)' if done else ''}\n{shlex.join(stage.argv)}")
                continue
            if done:
                logger.info("iteration %d %s already finished; skipped", i, stage.name)
                continue
            runner(stage.argv)
            if not stage.output.exists():
                raise RuntimeError(
                    f"iteration {i} {stage.name} exited 0 but {stage.output} is missing; check its log, then rerun "
                    "(finished stages are skipped)"
                )
            _record(plan, manifest, i, stage)
    return manifest
