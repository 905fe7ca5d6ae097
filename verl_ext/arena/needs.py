"""What a curriculum needs beyond the rollout protocol, and how the simulator provides it (docs/arena.md §"Needs").

Every registered curriculum is built from its config group's ``params`` (``configs/curriculum/<name>.yaml``; none:
the dataclass defaults). Needs are read from those params (field names and values), so a new strategy with the same
fields is handled without a change here:

* ``difficulty_file`` / ``arm_file`` (a field of the training data: AdaRFT's difficulty, SEC's arms) → the
  simulator's pool parquet, whose ``extra_info`` holds ``index``, ``level``, ``difficulty`` (= level), ``cluster``
  and ``subset``;
* ``subsets: data`` (per-prompt subset labels) → the simulator's subset labels, attached with
  ``set_subset_labels``; ``num_subsets`` set to their number;
* ``steps_per_subset`` (a run of exactly T·M steps) → M = ⌈(B − pilot_n·P) / (T·m·n)⌉, so the T·M steps and the
  pilots of every subset spend the rollout budget B;
* ``sigma: gradnorm`` (per-trajectory gradient norms, CurES Eq. 21) → **not providable** (the learner has no
  gradients): run as ``sigma: bernoulli`` and say so in the table;
* ``ctx.score`` (PCL's value model) → the learner's noisy value oracle (always available);
* ``release_table`` / ``pilot_path`` (tables written offline by another pipeline) → **not providable**: the
  curriculum is listed as not run, with the reason.

A strategy can also declare needs the config cannot show: a class attribute ``arena_needs`` (a string: the reason it
cannot run in the simulator) or an entry of :data:`DECLARED`. Nothing is skipped silently: every registered name ends
in the table or in the not-run list with its reason.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from verl_ext.curriculum.base import get_curriculum_class

__all__ = ["DECLARED", "OFFLINE_TABLES", "Plan", "plan_curriculum"]

# Needs a strategy's config does not show (name -> why the simulator cannot run it).
DECLARED: dict[str, str] = {
    "prefilter": (
        "trains uniformly on an offline-filtered file D' = {0 < p_ref < 1} (n_pre = 16 responses of pi_0 per prompt, "
        "written by recipes/prefilter); the arena has no such file and that pass alone would exceed the budget"
    ),
}

OFFLINE_TABLES = {
    "release_table": "the authors' released stage-0 table of each subset (an offline pass of another pipeline)",
    "pilot_path": "an offline pilot table (index, p, G, w, n) of each iteration written by another pipeline",
}


@dataclasses.dataclass
class Plan:
    """How one curriculum runs in the simulator.

    Attributes:
        name: the registered name.
        params: config-group params with every provided need filled in (no ``batch_size``/``n``/``seed``).
        notes: what the arena changed or provided (printed with the table).
        reason: why it cannot run (``None`` when it can).
        attach_subsets: call ``set_subset_labels`` with the simulator's labels after building.
    """

    name: str
    params: dict[str, Any]
    notes: list[str] = dataclasses.field(default_factory=list)
    reason: str | None = None
    attach_subsets: bool = False


def _group_params(name: str, config_dir: Path, pool_file: Path) -> dict[str, Any]:
    """The ``params`` of ``configs/curriculum/<name>.yaml`` with its interpolations resolved in the arena's context."""
    from omegaconf import OmegaConf

    path = config_dir / f"{name}.yaml"
    if not path.is_file():
        return {}
    group = OmegaConf.load(path)
    root = OmegaConf.create(
        {
            "data": {"train_files": str(pool_file)},
            "run": {"iteration": 1, "template": "sim", "model": "sim", "dataset": "sim"},
            "trainer": {"n_gpus_per_node": 1},
            "seed": 1,
            "curriculum": group,
        }
    )
    resolved = OmegaConf.to_container(root, resolve=True)
    return dict(resolved["curriculum"].get("params") or {})  # type: ignore[index,union-attr]


def plan_curriculum(
    name: str,
    config_dir: Path,
    pool_file: Path,
    num_subsets: int,
    overrides: dict[str, Any],
    budget: tuple[int, int] | None = None,
    num_prompts: int = 0,
) -> Plan:
    """Resolve ``name``'s params and needs (see the module docstring); never raises for an unrunnable strategy —
    the reason goes into :attr:`Plan.reason`.

    Args:
        name: a registered curriculum.
        config_dir: ``configs/curriculum``.
        pool_file: the simulator's pool parquet.
        num_subsets: distinct subset labels in the simulated pool.
        overrides: ``{param: value}`` set by the user for this curriculum (applied last).
        budget: ``(rollouts, m·n)``, sizes T·M runs (left at the config's M when None).
        num_prompts: P, the pool size (the pilots' cost in a T·M run).
    """
    cls = get_curriculum_class(name)
    declared = getattr(cls, "arena_needs", None) or DECLARED.get(name)
    if declared:
        return Plan(name, {}, reason=str(declared))
    try:
        params = _group_params(name, config_dir, pool_file)
    except Exception as err:  # an interpolation the arena cannot resolve: say which
        return Plan(name, {}, reason=f"its config group does not resolve in the arena: {err}")
    for key in ("batch_size", "n", "seed", "max_gen_rounds"):
        params.pop(key, None)
    fields = {f.name: f for f in dataclasses.fields(cls.config_class)}
    plan = Plan(name, params)
    for key, why in OFFLINE_TABLES.items():
        if key in fields:
            plan.reason = f"needs {key}: {why}"
            return plan
    for key in ("difficulty_file", "arm_file"):
        if key in fields:
            params[key] = str(pool_file)
            plan.notes.append(f"{key} = the simulator's levels")
    if params.get("subsets", getattr(fields.get("subsets"), "default", None)) == "data":
        params["num_subsets"] = num_subsets
        plan.attach_subsets = True
        plan.notes.append(f"subsets = the simulator's {num_subsets} random subsets")
    subset_schedule = "subsets" in fields or params.get("schedule") == "subsets"
    if "steps_per_subset" in fields and subset_schedule and budget is not None:
        # T·M steps spend the budget over all T subsets: M = ⌈(B − pilot_n·P) / (T·m·n)⌉ (pilots of every prompt
        # of every subset included; rounded up so the budget, not the end of Algorithm 1, ends the run), at least 1
        t = max(int(params.get("num_subsets", fields["num_subsets"].default if "num_subsets" in fields else 1)), 1)
        pilot = int(params.get("pilot_n", 0)) * num_prompts if "pilot_n" in fields else 0
        params["steps_per_subset"] = max(1, -(-(budget[0] - pilot) // (t * budget[1])))
        plan.notes.append(
            f"steps_per_subset = {params['steps_per_subset']} (T*M steps and the pilots spend the budget over all T)"
        )
    if params.get("sigma", getattr(fields.get("sigma"), "default", None)) == "gradnorm":
        params["sigma"] = "bernoulli"
        plan.notes.append("sigma = bernoulli (Eq. 21's gradient norms do not exist in the simulator)")
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"arena override(s) {unknown} are not options of {name!r}; valid: {', '.join(sorted(fields))}")
    if overrides:
        params.update(overrides)
        plan.notes.append("overrides: " + ", ".join(f"{k}={v}" for k, v in overrides.items()))
    return plan
