"""One source of curriculum defaults: the shared section keys live in configs/common.yaml, group files change them only.

``configs/curriculum/<name>.yaml`` holds the strategy's ``name``, its ``params`` and any shared key it sets to a
different value; restating a default is flagged here, so a change of a default happens in one place.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from omegaconf import OmegaConf

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SHARED = ("_target_", "seed", "max_gen_rounds", "rollout_timeout_s", "state_file")
GROUPS = sorted(CONFIGS.glob("curriculum/*.yaml"))


def _shared() -> dict:
    return OmegaConf.to_container(OmegaConf.load(CONFIGS / "common.yaml").curriculum)  # type: ignore[return-value]


def test_common_sets_every_shared_key_and_matches_the_dataclass() -> None:
    from verl_ext.trainer.config import CurriculumSection

    shared = _shared()
    assert set(shared) == set(SHARED), sorted(shared)
    assert shared["_target_"] == f"{CurriculumSection.__module__}.{CurriculumSection.__qualname__}"
    assert shared["seed"] == "${seed}"
    defaults = {f.name: f.default for f in dataclasses.fields(CurriculumSection)}
    for key in ("max_gen_rounds", "rollout_timeout_s", "state_file"):
        assert shared[key] == defaults[key], (key, shared[key], defaults[key])
    assert "pref_table" not in defaults and "value_model" not in defaults  # dead fields stay removed


@pytest.mark.parametrize("path", GROUPS, ids=[p.stem for p in GROUPS])
def test_group_file_restates_no_default(path: Path) -> None:
    group = OmegaConf.to_container(OmegaConf.load(path))
    assert isinstance(group, dict)
    assert group.get("name") == path.stem, f"{path.name}: name must be {path.stem!r}"
    shared = _shared()
    restated = sorted(k for k in group if k in shared and group[k] == shared[k])
    assert not restated, f"{path.name} restates the default(s) {restated} of configs/common.yaml: delete them"
    assert set(group) <= {"name", "params", *SHARED}, (
        f"{path.name}: unknown section key(s) {sorted(set(group) - {'name', 'params', *SHARED})}"
    )


def test_restated_default_is_flagged(tmp_path: Path) -> None:
    """The check above fires on a group file that copies a shared key."""
    bad = tmp_path / "uniform.yaml"
    bad.write_text("name: uniform\nmax_gen_rounds: 10\nparams: {}\n")
    with pytest.raises(AssertionError, match="max_gen_rounds"):
        test_group_file_restates_no_default(bad)


def test_group_that_changes_a_shared_key_passes(tmp_path: Path) -> None:
    ok = tmp_path / "ds.yaml"
    ok.write_text("name: ds\nmax_gen_rounds: 20\nparams: {k: 2}\n")
    test_group_file_restates_no_default(ok)
