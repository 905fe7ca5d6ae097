"""Fake-cluster tests of the multi-node scripts: SLURM's ``train.sbatch``, Ray's ``submit.sh`` / ``start_*.sh``.

Small bash executables stand in for ``srun``, ``scontrol``, ``hostname`` and the project environment's ``ray`` and
``python`` (``$VENV/bin``); each appends its argv to one log. ``ray status`` reports the head alone until its
``FAKE_JOIN_AFTER``-th call, then every node. A ``ray`` placed first on PATH records ``PATH-ray``: the scripts must
never call it. The fake ``python`` runs the real interpreter for ``-c`` snippets, answers the preflight by writing a
resolved config, and stands in for the trainer entry point, so ``scripts/launch.sh`` runs its real start path.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = "cures_table1/qwen2.5-math-1.5b_gvm-rpp"

FAKE_RAY = r"""#!/usr/bin/env bash
echo "ray[$0] $*" >>"$FAKE_LOG"
case $1 in
  start)
    echo "ray-env PATH0=${PATH%%:*}" >>"$FAKE_LOG"
    if [[ " $* " == *" --block "* ]]; then
      if [[ ${FAKE_WORKER_FAILS:-0} == 1 && " $* " != *" --head "* ]]; then exit 1; fi
      exec sleep 300
    fi
    exit 0 ;;
  status)
    count=$(($(cat "$FAKE_STATE" 2>/dev/null || echo 0) + 1))
    echo "$count" >"$FAKE_STATE"
    nodes=1
    if ((count >= FAKE_JOIN_AFTER)); then nodes=$FAKE_NNODES; fi
    gpus=$((nodes * ${FAKE_GPUS_PER_NODE:-8}))
    echo "======== Autoscaler status: 2026-01-01 00:00:00 ========"
    echo "Node status"
    echo "--------------------------------------------------------"
    echo "Active:"
    echo " 1 node_head0000"
    echo "Idle:"
    for ((i = 1; i < nodes; i++)); do echo " 1 node_worker000$i"; done
    echo "Pending:"
    echo " (no pending nodes)"
    echo "Recent failures:"
    echo " (no failures)"
    echo ""
    echo "Resources"
    echo "--------------------------------------------------------"
    echo "Total Usage:"
    echo " 0.0/$((nodes * 64)).0 CPU"
    echo " 0.0/${gpus}.0 GPU"
    echo " 0B/$((nodes * 500)).00GiB memory" ;;
  job)
    for arg in "$@"; do
      if [[ $arg == --runtime-env=* ]]; then echo "runtime-env $(tr -d '\n' <"${arg#--runtime-env=}")" >>"$FAKE_LOG"; fi
    done ;;
esac
"""

FAKE_PYTHON = r"""#!/usr/bin/env bash
echo "python $* RAY_ADDRESS=${RAY_ADDRESS:-} DATA_DIR=${DATA_DIR:-} CKPT_DIR=${CKPT_DIR:-}" >>"$FAKE_LOG"
if [[ $1 == -m && $2 == verl_ext.trainer.preflight ]]; then
  prev=
  for arg in "$@"; do
    if [[ $prev == --output ]]; then printf 'trainer:\n  default_local_dir: %s\n' "$FAKE_RUN_DIR" >"$arg"; fi
    prev=$arg
  done
  exit 0
fi
if [[ $1 == -m ]]; then echo "fake trainer ran: $2"; exit 0; fi
exec "$REAL_PYTHON" "$@"
"""

FAKE_SRUN = r"""#!/usr/bin/env bash
echo "srun $*" >>"$FAKE_LOG"
while [[ $# -gt 0 && $1 == -* ]]; do
  if [[ $1 == -w ]]; then shift; fi
  shift
done
exec "$@"
"""

FAKE_SCONTROL = r"""#!/usr/bin/env bash
echo "scontrol $*" >>"$FAKE_LOG"
for ((i = 1; i <= FAKE_NNODES; i++)); do echo "gpu-node$i"; done
"""

FAKE_HOSTNAME = r"""#!/usr/bin/env bash
echo "hostname $*" >>"$FAKE_LOG"
echo "10.0.0.1 fe80::1"
"""

PATH_RAY = """#!/usr/bin/env bash
echo "PATH-ray $*" >>"$FAKE_LOG"
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture
def cluster(tmp_path: Path) -> dict[str, str]:
    """Environment with the fakes: ``$VENV/bin/{ray,python}`` and ``srun``/``scontrol``/``hostname``/``ray`` on PATH."""
    venv, path_bin = tmp_path / "venv", tmp_path / "path_bin"
    _write(venv / "bin" / "ray", FAKE_RAY)
    _write(venv / "bin" / "python", FAKE_PYTHON)
    for name, text in (("srun", FAKE_SRUN), ("scontrol", FAKE_SCONTROL), ("hostname", FAKE_HOSTNAME),
                       ("ray", PATH_RAY)):  # fmt: skip
        _write(path_bin / name, text)
    shared = tmp_path / "shared"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "RAY_", "VERL_"))}
    for key in ("SEED", "NNODES", "GPUS_PER_NODE", "PYTHON", "DRY_RUN", "TENSORBOARD_DIR", "CKPT_DIR", "DATA_DIR",
                "MODEL_DIR"):  # fmt: skip
        env.pop(key, None)
    env.update(
        PATH=f"{path_bin}:{env['PATH']}",
        VENV=str(venv),
        REAL_PYTHON=sys.executable,
        FAKE_LOG=str(tmp_path / "calls.log"),
        FAKE_STATE=str(tmp_path / "status_calls"),
        FAKE_RUN_DIR=str(shared / "ckpt" / "run"),
        FAKE_NNODES="2",
        FAKE_JOIN_AFTER="3",
        FORCE="1",
        DATA_DIR=str(shared / "data"),
        MODEL_DIR=str(shared / "models"),
        CKPT_DIR=str(shared / "ckpt"),
    )
    return env


def _calls(env: dict[str, str]) -> list[str]:
    log = Path(env["FAKE_LOG"])
    return log.read_text().splitlines() if log.exists() else []


def _sbatch(env: dict[str, str], **extra: str) -> subprocess.CompletedProcess[str]:
    env = {**env, "SLURM_JOB_NODELIST": "gpu-node[1-2]", "SLURM_JOB_NUM_NODES": env["FAKE_NNODES"],
           "SLURM_SUBMIT_DIR": str(ROOT), "RAY_WAIT_INTERVAL": "0.2", **extra}  # fmt: skip
    return subprocess.run(["bash", "scripts/slurm/train.sbatch", EXPERIMENT, "trainer.total_training_steps=3"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip


# ----------------------------------------------------------------------------------------------------------- SLURM


def test_sbatch_starts_ray_with_the_project_env_and_waits_for_every_node(cluster: dict[str, str]) -> None:
    proc = _sbatch(cluster)
    assert proc.returncode == 0, proc.stderr
    calls = _calls(cluster)
    venv_ray = f"ray[{cluster['VENV']}/bin/ray]"
    assert not [c for c in calls if c.startswith("PATH-ray")], "the ray on PATH must never be called"
    srun = [c for c in calls if c.startswith("srun ")]
    assert srun[0] == "srun --nodes=1 --ntasks=1 -w gpu-node1 hostname --ip-address"
    # the head and worker steps run in the background: their log lines may come in either order
    head = f"srun --nodes=1 --ntasks=1 -w gpu-node1 {cluster['VENV']}/bin/ray start --head "
    worker = (f"srun --nodes=1 --ntasks=1 -w gpu-node2 {cluster['VENV']}/bin/ray start --address=10.0.0.1:6379 "
              "--num-gpus=8 --block")  # fmt: skip
    (head_step,) = [c for c in srun[1:] if c.startswith(head)]
    assert "--node-ip-address=10.0.0.1 --port=6379 --num-gpus=8 --block" in head_step
    assert sorted(srun[1:]) == sorted([head_step, worker])
    # polled until the fake reported both nodes (3rd call), then launched exactly once, after the last poll
    status = [i for i, c in enumerate(calls) if c.startswith(venv_ray) and " status " in f"{c} "]
    assert len(status) == 3 and all("--address=10.0.0.1:6379" in calls[i] for i in status)
    trainer = [i for i, c in enumerate(calls) if c.startswith("python -m recipes.")]
    assert len(trainer) == 1 and trainer[0] > status[-1]
    launch = calls[trainer[0]]
    assert launch.startswith(
        "python -m recipes.main --config-name=gvm experiment=cures_table1/qwen2.5-math-1.5b_gvm-rpp"
    )
    assert "trainer.nnodes=2 trainer.n_gpus_per_node=8" in launch and "trainer.total_training_steps=3" in launch
    assert "RAY_ADDRESS=10.0.0.1:6379 " in launch
    assert "2/2 nodes and 16/16 GPUs joined" in proc.stderr


def test_sbatch_times_out_naming_what_joined(cluster: dict[str, str]) -> None:
    proc = _sbatch({**cluster, "FAKE_JOIN_AFTER": "1000000"}, RAY_WAIT_TIMEOUT="1")
    assert proc.returncode == 4
    assert re.search(r"after 1s only 1/2 nodes and 8/16 GPUs joined the Ray cluster at 10\.0\.0\.1:6379", proc.stderr)
    assert "RAY_WAIT_TIMEOUT" in proc.stderr
    calls = _calls(cluster)
    assert sum(" status " in f"{c} " for c in calls) >= 2, "it polled more than once before giving up"
    assert not [c for c in calls if c.startswith("python -m recipes.")], "training must not start"


def test_sbatch_waits_for_the_gpus_not_only_the_nodes(cluster: dict[str, str]) -> None:
    proc = _sbatch({**cluster, "FAKE_GPUS_PER_NODE": "4", "FAKE_JOIN_AFTER": "1"}, RAY_WAIT_TIMEOUT="1")
    assert proc.returncode == 4 and "2/2 nodes and 8/16 GPUs" in proc.stderr


def test_sbatch_stops_when_a_ray_start_step_dies(cluster: dict[str, str]) -> None:
    proc = _sbatch({**cluster, "FAKE_WORKER_FAILS": "1", "FAKE_JOIN_AFTER": "1000000"}, RAY_WAIT_TIMEOUT="30")
    assert proc.returncode == 4 and "exited before the cluster formed" in proc.stderr


def test_sbatch_refuses_a_missing_project_environment(cluster: dict[str, str], tmp_path: Path) -> None:
    proc = _sbatch({**cluster, "VENV": str(tmp_path / "no_venv")})
    assert proc.returncode == 2 and "no_venv/bin/ray is not an executable of the project environment" in proc.stderr
    assert _calls(cluster) == []


# ------------------------------------------------------------------------------------------------------------- Ray


def _submit(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "scripts/ray_cluster/submit.sh", EXPERIMENT, "trainer.total_training_steps=3"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)  # fmt: skip


def test_submit_refuses_relative_and_missing_paths_naming_each(cluster: dict[str, str]) -> None:
    env = {**cluster, "DATA_DIR": "data/prepared", "CKPT_DIR": "checkpoints"}
    env.pop("MODEL_DIR")
    proc = _submit(env)
    assert proc.returncode == 2
    assert "DATA_DIR=data/prepared is relative" in proc.stderr and "CKPT_DIR=checkpoints is relative" in proc.stderr
    assert "MODEL_DIR is not set" in proc.stderr and "working dir" in proc.stderr
    assert _calls(cluster) == [], "nothing is submitted"


def test_submit_ships_absolute_paths_to_the_job(cluster: dict[str, str]) -> None:
    proc = _submit({**cluster, "RAY_ADDRESS": "http://head:8265", "NNODES": "2"})
    assert proc.returncode == 0, proc.stderr
    calls = _calls(cluster)
    submit = next(c for c in calls if c.startswith(f"ray[{cluster['VENV']}/bin/ray] job submit"))
    assert "--address=http://head:8265" in submit
    assert submit.endswith(f"-- bash scripts/launch.sh {EXPERIMENT} trainer.total_training_steps=3")
    runtime_env = json.loads(next(c for c in calls if c.startswith("runtime-env "))[len("runtime-env ") :])
    assert runtime_env["working_dir"] == "."
    env_vars = runtime_env["env_vars"]
    for key in ("DATA_DIR", "MODEL_DIR", "CKPT_DIR"):
        assert env_vars[key] == cluster[key]
    assert env_vars["NNODES"] == "2" and env_vars["GPUS_PER_NODE"] == "8"
    assert not [c for c in calls if c.startswith("PATH-ray")]


@pytest.mark.parametrize("script", ["start_head.sh", "start_worker.sh"])
def test_start_scripts_use_the_project_ray_and_python(cluster: dict[str, str], script: str) -> None:
    env = {**cluster, "HEAD_ADDRESS": "10.0.0.1:6379", "GPUS_PER_NODE": "4"}
    proc = subprocess.run(["bash", f"scripts/ray_cluster/{script}"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    calls = _calls(cluster)
    start = next(c for c in calls if c.startswith(f"ray[{cluster['VENV']}/bin/ray] start"))
    assert "--num-gpus=4" in start
    assert ("--head" in start) is (script == "start_head.sh")
    # the raylet (and so every Ray worker and job entrypoint on this node) finds the project's python first
    assert f"ray-env PATH0={cluster['VENV']}/bin" in calls


def test_start_scripts_refuse_a_missing_ray(cluster: dict[str, str], tmp_path: Path) -> None:
    env = {**cluster, "VENV": str(tmp_path / "no_venv")}
    proc = subprocess.run(["bash", "scripts/ray_cluster/start_head.sh"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2 and "no ray executable" in proc.stderr and _calls(cluster) == []


# ---------------------------------------------------------------------------------------------------------- launch


def test_launch_writes_logs_and_provenance_under_the_run_dir(cluster: dict[str, str]) -> None:
    """The real start path of launch.sh: preflight without --dry-run, then logs under CKPT_DIR's run dir."""
    proc = subprocess.run(["bash", "scripts/launch.sh", EXPERIMENT], cwd=ROOT, env=cluster, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run_dir = Path(cluster["FAKE_RUN_DIR"])
    calls = _calls(cluster)
    preflight = next(c for c in calls if c.startswith("python -m verl_ext.trainer.preflight"))
    assert "--dry-run" not in preflight and "--output" in preflight
    trainer = next(c for c in calls if c.startswith("python -m recipes.main --config-name=gvm "))
    assert f"++ray_kwargs.ray_init.runtime_env.env_vars.TENSORBOARD_DIR={run_dir}/tensorboard" in trainer
    assert f"++ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH={run_dir}/metrics.jsonl" in trainer
    assert "trainer.logger=[console,tensorboard,file]" in trainer
    launch_dir = run_dir / "launch"
    consoles = list(launch_dir.glob("console_*.log"))
    assert len(consoles) == 1 and "fake trainer ran: recipes.main" in consoles[0].read_text()
    # provenance is the entry point's (verl_ext.provenance, tests/test_provenance.py): no shell copy
    assert sorted(p.name for p in launch_dir.iterdir()) == [consoles[0].name]


def test_launch_makes_relative_paths_absolute(cluster: dict[str, str]) -> None:
    env = {**cluster, "DATA_DIR": "data/prepared", "CKPT_DIR": "some/ckpt"}
    proc = subprocess.run(["bash", "scripts/launch.sh", EXPERIMENT], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    preflight = next(c for c in _calls(cluster) if c.startswith("python -m verl_ext.trainer.preflight"))
    assert preflight.endswith(f"DATA_DIR={ROOT}/data/prepared CKPT_DIR={ROOT}/some/ckpt")
