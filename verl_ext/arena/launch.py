"""Command builders of the arena's real (CPU trainer) and cluster (``scripts/launch.sh``) modes (docs/arena.md).

**Real mode** trains the tiny warmed-up policy on the synthetic arithmetic task with each curriculum through the
recipes' one entry point on the CPU backend (``+platform=cpu``, as ``make demo`` does):
``python -m recipes.main --config-name=<config> curriculum=<name>``, where ``<config>`` is the curriculum's own
primary config when it has one (``configs/pcl.yaml``; CurES variants use ``configs/cures.yaml``), else ``grpo``.
Every run gets the same seed, optimiser, prompts per step m and responses per prompt n, and the same number of
steps; the table (``scripts/demo_report.py``, from verl's ``file`` logger) reports the rollouts each curriculum
actually generated.

**Cluster mode** turns a token budget B into ``trainer.total_training_steps`` per paper row: with m prompts, n
responses and a response limit L composed from the row's config, ⌊B / (m·n·L)⌋ steps never train on more than B
response tokens (every response at the limit is the worst case). Screening rollouts of DS / SPEED / GRESO / probe
are on top of that bound (they are not trained on); compare such rows by their logged tokens.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Sequence
from pathlib import Path

from verl_ext.arena.needs import DECLARED, OFFLINE_TABLES
from verl_ext.curriculum.base import get_curriculum_class

__all__ = ["RealRun", "cluster_commands", "config_for", "real_runs", "real_refusal", "row_budget_steps"]

# real-mode overrides a strategy needs on the synthetic task (its data has extra_info.difficulty, no level/subset)
_REAL_FIELD_OVERRIDES = {
    "arm_key": "curriculum.params.arm_key=extra_info.difficulty",
}


def config_for(name: str, repo: Path) -> str:
    """The primary config (``recipes.main --config-name``) that trains curriculum ``name``: ``configs/<name>.yaml``
    when it exists, else that of its family prefix (``cures_online`` → ``cures``), else the generic ``grpo``."""
    for recipe in (name, name.split("_")[0]):
        if (repo / "configs" / f"{recipe}.yaml").is_file():
            return recipe
    return "grpo"


def real_refusal(name: str) -> str | None:
    """Why curriculum ``name`` cannot run in real mode on the synthetic task (an offline table or file it needs), or
    None."""
    cls = get_curriculum_class(name)
    if name in DECLARED:
        return DECLARED[name]
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    for key, why in OFFLINE_TABLES.items():
        if key in fields:
            return f"needs {key}: {why}"
    return None


@dataclasses.dataclass(frozen=True)
class RealRun:
    """One real-mode run: ``label`` (``name@seed``), its directory and its command line."""

    label: str
    run_dir: Path
    argv: list[str]


def real_runs(
    names: Sequence[str],
    seeds: Sequence[int],
    *,
    repo: Path,
    out_dir: Path,
    python: str,
    policy: str,
    train: str,
    val: str,
    steps: int,
    batch_size: int,
    n: int,
    lr: float = 1e-4,
    extra: Sequence[str] = (),
) -> list[RealRun]:
    """The command of every (curriculum, seed), all with the same shared settings (see the module docstring)."""
    shared = [
        "+platform=cpu", "baseline=grpo_pcl", "run.model=tiny-qwen2", "run.dataset=arith",
        f"actor_rollout_ref.model.path={policy}", "actor_rollout_ref.model.custom_chat_template=null",
        f"data.train_files={train}", f"data.val_files={val}",
        f"data.train_batch_size={batch_size}", "data.max_prompt_length=64", "data.max_response_length=24",
        f"actor_rollout_ref.rollout.n={n}", f"actor_rollout_ref.actor.ppo_mini_batch_size={batch_size}",
        f"actor_rollout_ref.actor.optim.lr={lr}",
        "actor_rollout_ref.rollout.val_kwargs.do_sample=false", "actor_rollout_ref.rollout.val_kwargs.n=1",
        f"trainer.total_training_steps={steps}", "trainer.total_epochs=100", "trainer.val_before_train=true",
        f"trainer.test_freq={steps}", "trainer.save_freq=-1", "trainer.project_name=verl_ext_arena",
        "trainer.logger=[console,file]",
    ]  # fmt: skip
    runs = []
    for seed in seeds:
        for name in names:
            own = [f"curriculum={name}"]
            cls = get_curriculum_class(name)
            fields = {f.name for f in dataclasses.fields(cls.config_class)}
            own += [v for k, v in _REAL_FIELD_OVERRIDES.items() if k in fields]
            if name == "pcl":  # the value model learns at the policy's lr on the tiny model (docs/pcl.md §10)
                own.append(f"curriculum.value_model.optim.lr={lr}")
            run_dir = out_dir / name / f"seed{seed}"
            argv = [python, "-m", "recipes.main", f"--config-name={config_for(name, repo)}", *shared, *own,
                    f"seed={seed}", f"trainer.default_local_dir={run_dir / 'checkpoints'}",
                    f"++ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH={run_dir / 'metrics.jsonl'}",
                    *extra]  # fmt: skip
            runs.append(RealRun(f"{name}@{seed}", run_dir, argv))
    return runs


def row_budget_steps(m: int, n: int, max_response_length: int, token_budget: float) -> int:
    """⌊B / (m·n·L)⌋, at least 1 (refuses a budget below one step)."""
    per_step = m * n * max_response_length
    if token_budget < per_step:
        raise ValueError(
            f"token budget {token_budget:.3g} is below one step of this row (m={m} x n={n} x L={max_response_length} "
            f"= {per_step} tokens)"
        )
    return int(token_budget // per_step)


def cluster_commands(rows: Sequence[str], token_budget: float, repo: Path, extra: Sequence[str] = ()) -> list[str]:
    """One ``scripts/launch.sh <row> trainer.total_training_steps=<k> ...`` line per paper row (composed with the
    recipe's config to read m, n and L); unknown rows are refused naming the folder to look in."""
    from omegaconf import OmegaConf

    from verl_ext.trainer.preflight import compose

    lines = []
    for row in rows:
        path = repo / "configs" / "experiment" / f"{row}.yaml"
        if not path.is_file():
            raise ValueError(
                f"no experiment config {path.relative_to(repo)}; rows are configs/experiment/<table>/<row>"
            )
        recipe = str(OmegaConf.load(path).run.recipe)
        cfg = compose(repo / "configs", recipe, [f"experiment={row}"])
        m = int(cfg.data.train_batch_size)
        n = int(cfg.actor_rollout_ref.rollout.n)
        length = int(cfg.data.max_response_length)
        steps = row_budget_steps(m, n, length, token_budget)
        args = ["scripts/launch.sh", row, f"trainer.total_training_steps={steps}", *extra]
        lines.append(" ".join(shlex.quote(a) for a in args) + f"  # m={m} n={n} L={length}: <= {token_budget:.3g} "
                     "trained response tokens")  # fmt: skip
    return lines
