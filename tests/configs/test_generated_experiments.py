"""The paper-row overlays are generated: ``scripts/gen_experiments.py`` rewrites them identically from the CSVs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "configs" / "experiment"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_experiments", ROOT / "scripts" / "gen_experiments.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while building the class
    spec.loader.exec_module(module)
    return module


def test_regenerated_rows_equal_the_committed_files(tmp_path: Path) -> None:
    gen = _generator()
    written = gen.write(tmp_path)
    produced = {p.relative_to(tmp_path) for p in written}
    committed = {p.relative_to(EXPERIMENTS) for table in gen.GENERATED for p in (EXPERIMENTS / table).glob("*.yaml")}
    assert not committed - produced, f"files no paper row generates (delete them): {sorted(committed - produced)}"
    assert not produced - committed, (
        f"rows not committed (run scripts/gen_experiments.py): {sorted(produced - committed)}"
    )
    stale = sorted(str(p) for p in produced if (tmp_path / p).read_text() != (EXPERIMENTS / p).read_text())
    assert not stale, f"edited by hand or stale (run scripts/gen_experiments.py and commit): {stale}"
    assert len(produced) == 194  # 190 published rows + the 4 CurES -online variants


def test_rows_are_minimal_diffs() -> None:
    """A row sets no key its table base or every PCL recipe already sets to the same value."""
    from omegaconf import OmegaConf

    gen = _generator()
    restated = {"actor_rollout_ref.rollout.name": "vllm", "actor_rollout_ref.rollout.tensor_model_parallel_size": 1,
                "data.max_response_length": 4096, "data.max_prompt_length": 1024, "run.tag": ""}  # fmt: skip
    for row in gen.all_rows():
        cfg = OmegaConf.create(row.text().split("\n", 3)[3])  # after the header and defaults lines
        for key, value in restated.items():
            assert OmegaConf.select(cfg, key, throw_on_resolution_failure=False) != value, (row.name, key)
        assert OmegaConf.select(cfg, "run.paper") is None, row.name  # the table base sets it
        assert OmegaConf.select(cfg, "run.recipe") is not None, row.name  # launch.sh reads it from the file
