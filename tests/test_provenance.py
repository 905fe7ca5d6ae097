"""verl_ext.provenance: one record per start (commit, dirty flag, versions, command, config, dataset metadata), the
first kept when a run resumes; the runner writes it under trainer.default_local_dir before training."""

from __future__ import annotations

import hashlib
import json
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from verl_ext.provenance import build_provenance, dataset_provenance, git_state, write_provenance

ROOT = Path(__file__).resolve().parents[1]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                   capture_output=True)  # fmt: skip


def test_git_state_reports_commit_and_dirty_flag(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("one")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-q", "-m", "first")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    (tmp_path / "untracked.txt").write_text("ignored, as launch.sh's refusal ignores it")
    assert git_state(tmp_path) == {"git_commit": head, "git_dirty": False}
    (tmp_path / "a.txt").write_text("two")
    assert git_state(tmp_path) == {"git_commit": head, "git_dirty": True}


def test_git_state_outside_a_checkout(tmp_path: Path) -> None:
    assert git_state(tmp_path) == {"git_commit": "unknown", "git_dirty": None}


def test_a_second_record_never_overwrites_the_first(tmp_path: Path) -> None:
    first = write_provenance(tmp_path / "run", {"start": 1})
    second = write_provenance(tmp_path / "run", {"start": 2})
    third = write_provenance(tmp_path / "run", {"start": 3})
    assert [p.name for p in (first, second, third)] == ["provenance.json", "provenance-1.json", "provenance-2.json"]
    assert [json.loads(p.read_text())["start"] for p in (first, second, third)] == [1, 2, 3]


def test_dataset_provenance_hashes_the_meta_sidecar(tmp_path: Path) -> None:
    train = tmp_path / "math" / "train.parquet"
    train.parent.mkdir()
    train.write_bytes(b"not read")
    meta = {"dataset": "math", "hf_id": "org/math", "revision": "a" * 40, "rows_written": 7, "golds_normalised": []}
    (tmp_path / "math" / "train.meta.json").write_text(json.dumps(meta))
    bare = tmp_path / "fixture.parquet"
    (record_train, record_bare, record_remote) = dataset_provenance([train, bare, "hdfs://x/train.parquet"])
    sha = hashlib.sha256((tmp_path / "math" / "train.meta.json").read_bytes()).hexdigest()
    assert record_train["meta_sha256"] == sha and record_train["meta_path"].endswith("train.meta.json")
    assert record_train["meta"] == {"dataset": "math", "hf_id": "org/math", "revision": "a" * 40, "rows_written": 7}
    assert record_bare == {"path": str(bare), "meta": None}
    assert record_remote == {"path": "hdfs://x/train.parquet", "meta": None}


def test_a_corrupt_meta_sidecar_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "test.meta.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"test\.meta\.json is not valid JSON"):
        dataset_provenance(str(tmp_path / "test.parquet"))


def test_record_holds_versions_command_and_resolved_config() -> None:
    config = OmegaConf.create({"a": 3, "b": "${a}"})
    record = build_provenance("eval", config=config, argv=["scripts/eval.py", "--k", "4"], extra_field=1)
    assert record["kind"] == "eval" and record["extra_field"] == 1
    assert record["versions"]["verl"] == metadata.version("verl") == "0.9.1"
    assert set(record["versions"]) == {"verl", "torch", "vllm", "sglang", "transformers"}
    assert record["command"][1:] == ["scripts/eval.py", "--k", "4"]
    assert record["config"] == {"a": 3, "b": 3}
    assert isinstance(record["git_dirty"], bool) and len(record["git_commit"]) == 40
    json.dumps(record)


def test_runner_writes_provenance_under_default_local_dir_and_keeps_it_on_resume(tmp_path: Path) -> None:
    from verl_ext.trainer.runner import record_provenance

    data = tmp_path / "data"
    data.mkdir()
    (data / "train.meta.json").write_text(json.dumps({"dataset": "synthetic", "revision": None}))
    config = OmegaConf.create(
        {
            "data": {"train_files": str(data / "train.parquet"), "val_files": [str(data / "test.parquet")]},
            "trainer": {
                "experiment_name": "row",
                "default_local_dir": str(tmp_path / "ckpt" / "${trainer.experiment_name}"),
            },
        }
    )
    first = Path(record_provenance(config))
    resumed = Path(record_provenance(config))
    assert first == tmp_path / "ckpt" / "row" / "provenance.json" and resumed.name == "provenance-1.json"
    record = json.loads(first.read_text())
    assert record["kind"] == "train" and record["config"]["trainer"]["default_local_dir"] == str(first.parent)
    assert record["datasets"]["train"][0]["meta"] == {"dataset": "synthetic", "revision": None}
    assert record["datasets"]["val"] == [{"path": str(data / "test.parquet"), "meta": None}]


def test_iteration_driver_records_provenance_on_a_real_run_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_iterations_script", ROOT / "scripts" / "run_iterations.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    calls = []
    monkeypatch.setattr(script, "run_iterations", lambda plan, runner, dry_run: calls.append(dry_run))
    args = ["--method", "gvm", "--base-model", "m", "--subset-template", str(tmp_path / "numina_{i}.parquet"),
            "--iterations", "2", "--work-dir"]  # fmt: skip
    script.main([*args, str(tmp_path / "dry"), "--dry-run"])
    assert not (tmp_path / "dry").exists()
    script.main([*args, str(tmp_path / "real"), "--", "seed=3"])
    record = json.loads((tmp_path / "real" / "provenance.json").read_text())
    assert calls == [True, False] and record["kind"] == "iterations" and record["config"]["overrides"] == ["seed=3"]
    assert list(record["datasets"]) == ["subset_1", "subset_2"]
    assert record["datasets"]["subset_2"] == [{"path": str(tmp_path / "numina_2.parquet"), "meta": None}]
