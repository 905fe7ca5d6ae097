"""Every published run is a config: compose each experiment overlay and compare it with the paper's CSV row.

For each row of data/paper_tables/*.csv that names a run, the expected overlay is derived here from the CSV (model,
dataset, m, n, learning rate, context, engine, workers, method hyper-parameters), composed with Hydra's real
``compose()`` against verl 0.9.1's ``ppo_trainer``, validated with verl's ``validate_config`` and converted with
``omega_conf_to_dataclass`` (``algorithm`` and ``curriculum``). A published row without a config fails, and so does a
config that no row asks for.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
TABLES = ROOT / "data" / "paper_tables"
RECIPES = ("grpo", "cures", "pcl", "prefilter", "ds", "speed", "greso", "gvm", "probe")

MODELS = {  # CSV model name -> (HF id, short name used in file and run names)
    "Qwen3-8B-Base": ("Qwen/Qwen3-8B-Base", "qwen3-8b-base"),
    "Qwen3-4B-Base": ("Qwen/Qwen3-4B-Base", "qwen3-4b-base"),
    "Qwen3-1.7B-Base": ("Qwen/Qwen3-1.7B-Base", "qwen3-1.7b-base"),
    "Llama3.2-3B-it": ("meta-llama/Llama-3.2-3B-Instruct", "llama3.2-3b-it"),
    "Qwen2.5-Math-1.5B": ("Qwen/Qwen2.5-Math-1.5B", "qwen2.5-math-1.5b"),
    "Qwen2.5-Math-7B": ("Qwen/Qwen2.5-Math-7B", "qwen2.5-math-7b"),
}
PCL_METHODS = {"GRPO": "grpo", "Pre-filter": "prefilter", "DS": "ds", "SPEED": "speed", "GRESO": "greso", "PCL": "pcl"}
# PCL App. F.3 values, and the project defaults where F.3 lists candidates without the winner (docs/pcl.md)
PCL_PARAMS: dict[str, dict[str, Any]] = {
    "grpo": {},
    "prefilter": {},
    "ds": {"k": 2},
    "speed": {"n_init": 4, "k": 1, "mode": "pipelined"},
    "greso": {
        "p_easy": 0.5,
        "p_hard": 0.5,
        "alpha_easy": 0.083,
        "alpha_hard": 0.167,
        "delta_p": 0.01,
        "rollout_batch": 768,
    },  # fmt: skip
    "pcl": {"k": 4, "tau": 0.5},
}
EXPECTED_COUNTS = {"pcl_table1_math": 24, "pcl_table13_deepscaler": 20, "pcl_table4_math": 34,
                   "pcl_table5_deepscaler": 57, "pcl_table6_px": 35, "cures_table1": 24}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Run:
    """What one published run must look like once composed."""

    experiment: str  # configs/experiment/<experiment>.yaml
    recipe: str
    hf_id: str
    dataset: str  # run.dataset
    m: int
    n: int
    lr: float
    ctx: int
    engine: str = "vllm"
    workers: int = 8
    curriculum: str = "uniform"
    params: tuple[tuple[str, Any], ...] = ()
    paper: str = "pcl"

    def __str__(self) -> str:
        return self.experiment


def _rows(name: str) -> list[dict[str, str]]:
    with open(TABLES / name, newline="") as f:
        return list(csv.DictReader(f))


def _pcl_results_runs() -> list[Run]:
    runs = []
    for name, table, dataset, lr in (
        ("pcl_table1_math.csv", "pcl_table1_math", "math", 8e-6),
        ("pcl_table13_deepscaler.csv", "pcl_table13_deepscaler", "deepscaler", 4e-6),
    ):
        for row in _rows(name):
            if row["method"] == "pi_ref":
                continue
            recipe = PCL_METHODS[row["method"]]
            hf_id, short = MODELS[row["model"]]
            runs.append(Run(f"{table}/{short}_{recipe}", recipe, hf_id, dataset, 512, 16, lr, 4096,
                            curriculum=recipe if recipe != "grpo" else "uniform",
                            params=tuple(PCL_PARAMS[recipe].items())))  # fmt: skip
    return runs


def _sweep_tag(m: int, n: int, ctx: int, workers: int, engine: str) -> str:
    tag = f"_m{m}_n{n}"
    tag += f"_ctx{ctx}" if ctx != 4096 else ""
    tag += f"_{workers}worker" if workers != 8 else ""
    return tag + (f"_{engine}" if engine != "vllm" else "")


def _pcl_sweep_runs() -> list[Run]:
    runs = []
    for name, table, dataset in (
        ("pcl_table4_experiments_math.csv", "pcl_table4_math", "math"),
        ("pcl_table5_experiments_deepscaler.csv", "pcl_table5_deepscaler", "deepscaler"),
    ):
        rows = _rows(name)
        if table == "pcl_table5_deepscaler":
            # Table 11 reports SGLang m=4096 but Table 5 lost its row: lr 1.2e-5, the vLLM value (docs/pcl.md)
            rows.append({"model": "Qwen3-4B-Base", "m": "4096", "n": "16", "context_length": "4096",
                         "num_workers": "8", "engine": "SGLang", "lr_chosen": "1.2e-5"})  # fmt: skip
        for row in rows:
            m, n, ctx, workers = (int(row[k]) for k in ("m", "n", "context_length", "num_workers"))
            engine = row["engine"].lower()
            lr = float(row["lr_chosen"] or row["lr_chosen_inferred"])
            hf_id, short = MODELS[row["model"]]
            runs.append(Run(f"{table}/{short}{_sweep_tag(m, n, ctx, workers, engine)}", "grpo", hf_id, dataset, m, n,
                            lr, ctx, engine, workers))  # fmt: skip
    for row in _rows("pcl_table6_experiments_px.csv"):
        m, n, px = int(row["m"]), int(row["n"]), row["p_x_threshold"]
        hf_id, short = MODELS[row["model"]]
        params = (("k", 4), ("probe_n", 4), ("tau_p", float(px)))
        runs.append(Run(f"pcl_table6_px/{short}_px{px}_m{m}_n{n}", "probe", hf_id, "deepscaler", m, n,
                        float(row["lr_chosen"]), 4096, curriculum="probe", params=params))  # fmt: skip
    return runs


def _cures_runs() -> list[Run]:
    runs = []
    for row in _rows("cures_table1.csv"):
        method = row["method"]
        if method == "base":
            continue  # evaluation only
        hf_id, short = MODELS[row["model"]]
        common = {"hf_id": hf_id, "dataset": "numina_pool", "m": 1024, "lr": 1e-6, "ctx": 3072, "paper": "cures"}
        name = f"cures_table1/{short}_{method.lower()}"
        if method in ("GRPO", "RPP"):
            runs.append(Run(name, "grpo", n=8, **common))
        elif method.startswith("Speed-RL"):
            params = (("n_init", 4), ("k", 1), ("mode", "exact"))
            runs.append(Run(name, "speed", n=8, curriculum="speed", params=params, **common))
        elif method.startswith("GVM"):
            runs.append(Run(name, "gvm", n=1, curriculum="gvm", params=(("alpha", 1e-3), ("beta", 2.0)), **common))
        else:  # CurES: cures_release reproduces the row; -paper = Algorithm 1; -online = the project's variant
            runs.append(Run(name, "cures", n=4, curriculum="cures_release", params=(("copies_n", 4),), **common))
            paper = (("tau", 0.1), ("sigma", "gradnorm"), ("pilot_n", 4), ("subsets", "data"), ("num_subsets", 15),
                     ("steps_per_subset", 10))  # fmt: skip
            runs.append(Run(f"{name}-paper", "cures", n=8, curriculum="cures_algorithm1", params=paper, **common))
            online = (("tau", 0.1), ("sigma", "bernoulli"), ("cold_start", "pilot"))
            runs.append(Run(f"{name}-online", "cures", n=8, curriculum="cures_online", params=online, **common))
    return runs


RUNS = _pcl_results_runs() + _pcl_sweep_runs() + _cures_runs()


def _experiment_files() -> set[str]:
    root = CONFIGS / "experiment"
    # peers/: other papers' methods run in a published setting; no table row asks for them (docs/methods/);
    # nested/: Nested-ReFT in the PCL MATH setting, not a row of either paper (docs/nested.md)
    return {
        str(p.relative_to(root).with_suffix(""))
        for p in root.rglob("*.yaml")
        if p.relative_to(root).parts[0] not in ("peers", "nested")
    }


def _recipe_of(experiment: str) -> str:
    return str(OmegaConf.load(CONFIGS / "experiment" / f"{experiment}.yaml")["run"]["recipe"])


def _seed_values(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every (dotted key, value) whose key contains 'seed', over the resolved config."""
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            sub = f"{path}.{key}" if path else str(key)
            if "seed" in str(key) and not isinstance(value, dict):
                out.append((sub, value))
            out.extend(_seed_values(value, sub))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(_seed_values(value, f"{path}[{i}]"))
    return out


# ----------------------------------------------------------------------------------------------------------- coverage


def test_every_published_row_has_a_config_and_no_config_is_orphaned() -> None:
    expected = {run.experiment for run in RUNS}
    files = _experiment_files()
    assert not expected - files, f"published rows without a config: {sorted(expected - files)}"
    assert not files - expected, f"experiment configs that no published row asks for: {sorted(files - expected)}"


def test_counts_per_table() -> None:
    counts: dict[str, int] = {}
    for run in RUNS:
        table = run.experiment.split("/")[0]
        counts[table] = counts.get(table, 0) + 1
    assert counts == EXPECTED_COUNTS


# ------------------------------------------------------------------------------------------------------ per-row check


def _check_common(cfg: DictConfig, run: Run) -> None:
    rollout, actor, data = cfg.actor_rollout_ref.rollout, cfg.actor_rollout_ref.actor, cfg.data
    assert cfg.run.recipe == run.recipe
    assert cfg.run.hf_id == run.hf_id and cfg.actor_rollout_ref.model.path.endswith(run.hf_id)
    assert cfg.run.dataset == run.dataset
    assert data.train_batch_size == run.m
    assert rollout.n == run.n
    assert math.isclose(actor.optim.lr, run.lr, rel_tol=1e-9), (actor.optim.lr, run.lr)
    assert data.max_response_length == run.ctx and data.max_prompt_length == 1024
    assert data.max_prompt_length + data.max_response_length <= cfg.run.max_context
    assert rollout.name == run.engine
    assert rollout.tensor_model_parallel_size * run.workers == cfg.trainer.n_gpus_per_node == 8
    assert cfg.curriculum.name == run.curriculum
    for key, value in run.params:
        assert cfg.curriculum.params[key] == value, (key, cfg.curriculum.params[key], value)
    # invariants of every run of this project
    assert cfg.trainer.use_v1 is True and cfg.trainer.v1.trainer_mode == "sync"
    assert data.dataloader_num_workers == 0 and data.filter_overlong_prompts is False
    assert cfg.algorithm.filter_groups.enable is False and cfg.critic.enable is False
    assert cfg.reward.custom_reward_function.path == "pkg://verl_ext.rewards.math_reward"
    assert cfg.reward.custom_reward_function.name == "compute_score"
    for part in (run.recipe, cfg.run.model, run.dataset, f"s{cfg.seed}"):
        assert part in cfg.trainer.experiment_name, (part, cfg.trainer.experiment_name)
    seeds = _seed_values(OmegaConf.to_container(cfg))
    assert len(seeds) >= 8 and all(v == cfg.seed for _, v in seeds), seeds


def _check_pcl(cfg: DictConfig, run: Run) -> None:
    actor, algo = cfg.actor_rollout_ref.actor, cfg.algorithm
    assert algo.adv_estimator == "grpo" and algo.norm_adv_by_std_in_grpo is False and algo.use_kl_in_reward is False
    assert actor.use_kl_loss is False and actor.entropy_coeff == 0 and actor.loss_agg_mode == "seq-mean-token-mean"
    assert actor.ppo_mini_batch_size == run.m and actor.ppo_epochs == 1  # one optimizer step per batch
    assert cfg.trainer.test_freq == max(1, 4096 // run.m)
    assert cfg.run.budget_hours == (72 if run.dataset == "deepscaler" and "8B" in run.hf_id else 48)
    val = cfg.actor_rollout_ref.rollout.val_kwargs
    assert (val.do_sample, val.temperature, val.top_p) == (True, 0.6, 0.95)
    assert val.top_k == (20 if run.dataset == "math" else -1)
    assert len(cfg.data.val_files) == (1 if run.dataset == "math" else 6)
    if run.recipe == "pcl":
        assert cfg.curriculum.value_model.optim.lr == 1e-6
        assert cfg.curriculum.value_model.model.path == cfg.actor_rollout_ref.model.path
    if run.recipe == "prefilter":
        assert cfg.data.train_files.endswith(f"prefilter/{cfg.run.model}/train.prefilter.parquet")
        # the pi_ref table of the same pass reaches the strategy (curriculum/pref_acc)
        assert cfg.curriculum.params.pref_table.endswith(f"prefilter/{cfg.run.model}/train.pref.parquet")


def _check_cures(cfg: DictConfig, run: Run) -> None:
    actor, algo = cfg.actor_rollout_ref.actor, cfg.algorithm
    estimator = "reinforce_plus_plus" if run.experiment.split("_")[-1].split("-")[-1] in ("rpp",) else "grpo"
    if run.experiment.endswith(("-paper", "-online")):
        estimator = "reinforce_plus_plus" if "-rpp-" in run.experiment else "grpo"
    assert algo.adv_estimator == estimator
    assert actor.use_kl_loss is True and actor.kl_loss_coef == 0.001 and actor.kl_loss_type == "low_var_kl"
    assert actor.loss_agg_mode == "token-mean" and actor.clip_ratio_c == 3.0 and actor.ppo_mini_batch_size == 256
    assert cfg.actor_rollout_ref.rollout.val_kwargs.do_sample is False  # MATH500 greedy during training
    if run.curriculum in ("cures_algorithm1", "cures_online"):
        unit = actor.ppo_mini_batch_size * run.n
        assert (run.m * run.n) % unit == 0 and run.m * run.n // unit == 4  # exactly 4 updates per step
        assert cfg.trainer.total_training_steps == 150
    if run.curriculum == "cures_algorithm1":  # T·M = 15·10 steps of Algorithm 1
        assert cfg.curriculum.params.num_subsets * cfg.curriculum.params.steps_per_subset == 150
    if run.recipe in ("gvm",) or run.curriculum == "cures_release":
        assert cfg.trainer.total_training_steps == 10 and "numina_1/" in cfg.data.train_files


def _check_verl_and_dataclasses(cfg: DictConfig, run: Run) -> None:
    from verl.trainer.config import AlgoConfig
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    from verl_ext.curriculum import get_curriculum_class
    from verl_ext.trainer.config import CurriculumSection, section_from_config

    assert need_reference_policy(cfg) is (run.paper == "cures")
    assert need_critic(cfg) is False
    validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    assert isinstance(omega_conf_to_dataclass(cfg.algorithm), AlgoConfig)
    section = section_from_config(cfg)  # the typed section; PCL's value_model is its own node
    assert isinstance(section, CurriculumSection)
    assert section.seed == cfg.seed
    # the strategy's own dataclass checks its hyper-parameters (no data needed)
    config_class = get_curriculum_class(section.name).config_class
    config_class(**dict(section.params), batch_size=run.m, n=run.n, seed=section.seed,
                 max_gen_rounds=section.max_gen_rounds)  # fmt: skip


def _params() -> list[Any]:
    """The first run of every (table, recipe) runs by default; the rest are marked slow (each compose is ~1 s)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for run in RUNS:
        key = (run.experiment.split("/")[0], run.recipe)
        marks = () if key not in seen else (pytest.mark.slow,)
        seen.add(key)
        out.append(pytest.param(run, id=run.experiment, marks=marks))
    return out


@pytest.mark.parametrize("run", _params())
def test_experiment_matches_paper(run: Run, compose_cfg: Any) -> None:
    if not (CONFIGS / "experiment" / f"{run.experiment}.yaml").is_file():
        pytest.fail(f"no config for published run {run.experiment}: add configs/experiment/{run.experiment}.yaml")
    assert _recipe_of(run.experiment) == run.recipe
    cfg = compose_cfg(run.recipe, f"experiment={run.experiment}")
    _check_common(cfg, run)
    (_check_pcl if run.paper == "pcl" else _check_cures)(cfg, run)
    _check_verl_and_dataclasses(cfg, run)


# ---------------------------------------------------------------------------------------------- primaries and groups


@pytest.mark.parametrize("recipe", RECIPES)
def test_primary_config_composes_and_validates(recipe: str, compose_cfg: Any) -> None:
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    cfg = compose_cfg(recipe)
    assert cfg.run.recipe == recipe
    from recipes.main import TRAINING_CONFIGS

    assert recipe in TRAINING_CONFIGS  # the one entry point (python -m recipes.main --config-name=<recipe>) serves it
    validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))


def test_one_seed_reaches_every_seed_key(compose_cfg: Any) -> None:
    cfg = compose_cfg("pcl", "seed=7")
    seeds = _seed_values(OmegaConf.to_container(cfg))
    assert {key for key, _ in seeds} >= {
        "data.seed", "actor_rollout_ref.rollout.seed", "actor_rollout_ref.actor.data_loader_seed",
        "critic.data_loader_seed", "curriculum.seed", "curriculum.value_model.data_loader_seed",
    }  # fmt: skip
    assert all(value == 7 for _, value in seeds), seeds
    assert cfg.trainer.experiment_name.endswith("_s7")


def test_model_groups_name_valid_templates_and_chat_templates(compose_cfg: Any) -> None:
    from verl_ext.data.templates import get_template
    from verl_ext.eval.benchmarks import SUITES

    for option in sorted(p.stem for p in (CONFIGS / "model").glob("*.yaml")):
        cfg = compose_cfg("grpo", f"model={option}")
        template = get_template(cfg.run.template)
        assert cfg.actor_rollout_ref.model.custom_chat_template == template.chat_template, option
        assert cfg.run.eval_suite in SUITES
        assert 0.3 <= cfg.actor_rollout_ref.rollout.gpu_memory_utilization <= 0.9


def test_value_model_builds_verl_critic_config(compose_cfg: Any, tmp_path: Path) -> None:
    """PCL's value_model subtree is verl's critic schema: it instantiates once its model dir exists."""
    from verl.utils.config import omega_conf_to_dataclass
    from verl.workers.config import FSDPCriticConfig

    from verl_ext.testing.tiny import build_tiny_model

    model_dir = build_tiny_model()
    cfg = compose_cfg("pcl", f"actor_rollout_ref.model.path={model_dir}")
    value = omega_conf_to_dataclass(cfg.curriculum.value_model)
    assert isinstance(value, FSDPCriticConfig)
    assert value.optim.lr == 1e-6 and str(value.model.path) == str(model_dir)


def test_shared_cache_gives_the_same_config(compose_cfg: Any, fresh_compose: Any) -> None:
    """The session-wide YAML cache of conftest must not change what Hydra composes."""
    cases = [("pcl", "experiment=pcl_table1_math/qwen3-8b-base_pcl"), ("grpo", "model=llama3_2_3b_it"),
             ("ds", "experiment=pcl_table13_deepscaler/qwen3-4b-base_ds"), ("pcl", "seed=3")]  # fmt: skip
    cached = [OmegaConf.to_container(compose_cfg(*case)) for case in cases]
    fresh = [OmegaConf.to_container(fresh_compose(*case)) for case in cases]
    for case, a, b in zip(cases, cached, fresh):
        assert a == b, (case, str([(k, a["run"][k], b["run"][k]) for k in a["run"] if a["run"][k] != b["run"][k]]))
