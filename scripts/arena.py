#!/usr/bin/env python
"""The curriculum arena (docs/arena.md): every registered curriculum on one rollout budget.

    python scripts/arena.py                                   # simulated mode, defaults (what `make arena` runs)
    python scripts/arena.py --curricula uniform,pcl,mopps --seeds 1 2 3 --steps 500 --out-dir outputs/arena
    python scripts/arena.py --set knapsack.n_max=64           # a strategy's param in the simulated mode
    python scripts/arena.py --mode real --curricula uniform,cures_online,pcl,mopps,knapsack --steps 10
    python scripts/arena.py --mode cluster --rows pcl_table1_math/qwen3-8b-base_pcl,pcl_table1_math/qwen3-8b-base_ds \\
        --token-budget 2e10
    DRY_RUN=1 python scripts/arena.py [--mode ...]            # print the plan / commands; run nothing

Simulated: a synthetic learner (a model, not an LLM) over 10^5 prompts; writes arena_table.md, arena_runs.csv and
the plots under --out-dir. Real: the CPU backend trains the tiny model on the synthetic task through the recipes' entry
points, then scripts/demo_report.py makes the table from verl's logs. Cluster: one scripts/launch.sh line per paper row
at a fixed token budget (with DRY_RUN=1, each line is dry-run through launch.sh: composed and validated).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from verl_ext.arena.harness import ArenaSettings, run_arena  # noqa: E402
from verl_ext.arena.needs import plan_curriculum  # noqa: E402
from verl_ext.arena.simulator import SimSettings  # noqa: E402
from verl_ext.curriculum.base import list_curricula  # noqa: E402

logger = logging.getLogger("arena")

REAL_DEFAULT = "uniform,cures_online,pcl,mopps,knapsack"


def _names(text: str | None) -> list[str]:
    return [t for t in (text or "").replace(",", " ").split() if t]


def _overrides(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        name, dot, param = key.partition(".")
        if not sep or not dot or not name or not param:
            raise SystemExit(f"--set {item!r}: expected CURRICULUM.PARAM=VALUE, e.g. knapsack.n_max=64")
        out.setdefault(name, {})[param] = yaml.safe_load(value)
    return out


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def simulated(args: argparse.Namespace, dry: bool) -> int:
    sim = SimSettings(num_prompts=args.pool, heldout=args.heldout)
    settings = ArenaSettings(batch_size=args.batch_size, n=args.n, budget=args.budget, steps=args.steps,
                             max_steps=args.max_steps, sim=sim)  # fmt: skip
    names = _names(args.curricula) or list_curricula()
    overrides = _overrides(args.set)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header = (f"Simulated arena (a synthetic learner, not an LLM): pool {sim.num_prompts}, held-out {sim.heldout}, "
              f"m={settings.batch_size}, n={settings.n}, budget {settings.rollout_budget} rollouts "
              f"(= {args.steps} uniform steps), step cap {settings.step_cap}.\n")  # fmt: skip
    if dry:
        from verl_ext.arena.simulator import SimulatedLearner

        pool = SimulatedLearner(sim, args.seeds[0]).write_pool(out / "sim_pool_dry_run.parquet")
        print(header)
        for name in names:
            plan = plan_curriculum(name, REPO / "configs" / "curriculum", pool, sim.subsets, overrides.get(name, {}),
                                  budget=(settings.rollout_budget, settings.batch_size * settings.n),
                                  num_prompts=sim.num_prompts)  # fmt: skip
            what = f"NOT RUN: {plan.reason}" if plan.reason else f"params {plan.params}"
            print(f"- {name}: {what}" + (f" [{'; '.join(plan.notes)}]" if plan.notes else ""))
        print(f"seeds {args.seeds}; jobs {args.jobs}; out {out} (dry run: nothing trained)")
        return 0
    t0 = time.time()
    print(header + f"curricula: {', '.join(names)}; seeds {args.seeds}; {args.jobs} processes; load {_load()}",
          flush=True)  # fmt: skip
    results, not_run = run_arena(names, args.seeds, settings, REPO / "configs" / "curriculum", out, overrides,
                                 progress=lambda s: print(s, flush=True), jobs=args.jobs)  # fmt: skip
    wall = time.time() - t0
    from verl_ext.arena.report import write_outputs

    if not results:
        print("no curriculum ran; reasons:\n" + "\n".join(f"- {k}: {v}" for k, v in not_run.items()), file=sys.stderr)
        return 1
    cmd = "python scripts/arena.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    text, paths = write_outputs(results, not_run, settings.rollout_budget, out,
                                header=header + f"Command: `{cmd.strip()}`; wall {wall:.0f} s; load average at the end "
                                f"{_load()}.\n")  # fmt: skip
    print("\n" + text)
    print("outputs: " + ", ".join(str(p) for p in paths))
    return 0


def real(args: argparse.Namespace, dry: bool) -> int:
    from verl_ext.arena.launch import real_refusal, real_runs

    names = _names(args.curricula or REAL_DEFAULT)
    unknown = sorted(set(names) - set(list_curricula()))
    if unknown:
        raise SystemExit(f"unknown curricula {unknown}; registered: {', '.join(list_curricula())}")
    refused = {n: r for n in names if (r := real_refusal(n))}
    names = [n for n in names if n not in refused]
    for name, reason in refused.items():
        print(f"[arena] {name} not run: {reason}", file=sys.stderr)
    out = Path(args.out_dir).resolve()
    python = os.environ.get("PYTHON", sys.executable)
    if dry:
        policy, train, val = ("<policy>", "<train.parquet>", "<val.parquet>")
    else:
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        assets = subprocess.run([python, str(REPO / "scripts" / "make_tiny_assets.py"), "--shell", "--heldout",
                                 str(args.heldout_real)], check=True, capture_output=True, text=True, cwd=REPO,
                                env=env).stdout.strip().splitlines()[-3:]  # fmt: skip
        paths = dict(shlex.split(line)[0].split("=", 1) for line in assets)
        policy, train, val = paths["POLICY"], paths["TRAIN"], paths["VAL"]
    runs = real_runs(names, args.seeds, repo=REPO, out_dir=out, python=python, policy=policy, train=train, val=val,
                     steps=args.steps, batch_size=args.batch_size, n=args.n, extra=args.hydra)  # fmt: skip
    if dry:
        for run in runs:
            print(f"# {run.label}\n" + " ".join(shlex.quote(a) for a in run.argv))
        return 0
    specs, failed = [], []
    for run in runs:
        run.run_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        print(f"[arena] {run.label}: {run.argv[2]} (log {run.run_dir / 'train.log'})", flush=True)
        with open(run.run_dir / "train.log", "w") as log:
            env = dict(os.environ, HF_HUB_OFFLINE="1", RAY_DEDUP_LOGS="0", PYTHONUNBUFFERED="1",
                       VERL_FILE_LOGGER_PATH=str(run.run_dir / "metrics.jsonl"))  # fmt: skip
            rc = subprocess.run(run.argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
        wall = time.time() - t0
        if rc == 0 and (run.run_dir / "metrics.jsonl").is_file():
            (run.run_dir / "wall_seconds.txt").write_text(f"{wall:.0f}\n")
            specs += ["--run", f"{run.label}={run.run_dir / 'metrics.jsonl'}"]
            print(f"[arena] {run.label}: done in {wall:.0f} s (load {_load()})", flush=True)
        else:
            failed.append(run.label)
            print(f"[arena] {run.label}: FAILED (exit {rc}); see {run.run_dir / 'train.log'}", file=sys.stderr)
    if specs:
        subprocess.run([python, str(REPO / "scripts" / "demo_report.py"), *specs, "--out-dir", str(out)], check=True,
                       cwd=REPO)  # fmt: skip
    if refused:
        print("not run: " + "; ".join(f"{k}: {v}" for k, v in refused.items()))
    return 1 if failed or not specs else 0


def cluster(args: argparse.Namespace, dry: bool) -> int:
    from verl_ext.arena.launch import cluster_commands

    rows = _names(args.rows)
    if not rows:
        raise SystemExit("--mode cluster needs --rows <table>/<row>[,...] (configs/experiment/)")
    lines = cluster_commands(rows, args.token_budget, REPO, extra=args.hydra)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    script = out / "cluster_commands.sh"
    head = "#!/usr/bin/env bash\n# python scripts/arena.py --mode cluster (docs/arena.md)\n"
    script.write_text(head + "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"written to {script}")
    if not dry:
        return 0
    bad = 0
    for line in lines:
        argv = shlex.split(line.split("  #")[0])
        rc = subprocess.run(["bash", *argv], cwd=REPO, env=dict(os.environ, DRY_RUN="1"), stdout=subprocess.DEVNULL)
        print(f"{'ok' if rc.returncode == 0 else 'FAILED'}  DRY_RUN=1 {' '.join(argv)}")
        bad += rc.returncode != 0
    return 1 if bad else 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    raw = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=raw, epilog=__doc__.split("\n", 2)[2]
    )
    p.add_argument("--mode", choices=("simulated", "real", "cluster"), default="simulated")
    p.add_argument("--curricula", help=f"comma list (simulated default: every registered; real: {REAL_DEFAULT})")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="simulated: the budget in uniform steps (default 2000); real: training steps (default 10)",
    )
    p.add_argument("--budget", type=int, help="simulated: rollouts per run (default steps x m x n)")
    p.add_argument("--max-steps", type=int, help="simulated: cap on steps per run (default 4 x the budget's steps)")
    p.add_argument("--batch-size", type=int, default=None, help="m (simulated default 32, real 8)")
    p.add_argument("-n", "--n", type=int, default=None, help="responses per prompt (simulated default 8, real 4)")
    p.add_argument("--pool", type=int, default=100_000, help="simulated: training prompts")
    p.add_argument("--heldout", type=int, default=2_000, help="simulated: held-out prompts")
    p.add_argument("--heldout-real", type=int, default=256, help="real: held-out validation prompts")
    p.add_argument("--jobs", type=int, default=2, help="simulated: runs in parallel (processes)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="CURRICULUM.PARAM=VALUE",
        help="simulated: a strategy's param (repeatable)",
    )
    p.add_argument("--rows", help="cluster: experiment rows, comma list")
    p.add_argument("--token-budget", type=float, default=2e10, help="cluster: trained response tokens per row")
    p.add_argument("--out-dir", default=str(REPO / "outputs" / "arena"))
    p.add_argument("--dry-run", action="store_true", help="same as DRY_RUN=1")
    p.add_argument("hydra", nargs="*", help="real/cluster: extra Hydra overrides for every run")
    args = p.parse_args(argv)
    dry = args.dry_run or os.environ.get("DRY_RUN", "0") == "1"
    if args.mode == "simulated":
        if args.hydra:
            p.error(f"Hydra overrides {args.hydra} apply to --mode real/cluster; use --set in the simulated mode")
        args.steps = 2000 if args.steps is None else args.steps
        args.batch_size = 32 if args.batch_size is None else args.batch_size
        args.n = 8 if args.n is None else args.n
        return simulated(args, dry)
    if args.set:
        p.error("--set applies to the simulated mode; pass curriculum.params.<key>=<value> as a Hydra override")
    args.steps = 10 if args.steps is None else args.steps
    args.batch_size = 8 if args.batch_size is None else args.batch_size
    args.n = 4 if args.n is None else args.n
    return real(args, dry) if args.mode == "real" else cluster(args, dry)


if __name__ == "__main__":
    sys.exit(main())
