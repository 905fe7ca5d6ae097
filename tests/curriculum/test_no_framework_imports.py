"""The curriculum package stays pure: no module imports verl or Ray (verl_ext/curriculum/base.py docstring)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import verl_ext.curriculum as pkg

FORBIDDEN = ("verl", "ray")
PKG_DIR = Path(pkg.__file__).parent


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_module_imports_verl_or_ray() -> None:
    files = sorted(PKG_DIR.glob("*.py"))
    assert len(files) >= 8
    offenders = {f.name: sorted(_imported_roots(f) & set(FORBIDDEN)) for f in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_ast_check_catches_an_offender(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy\nfrom verl.trainer import main\nimport ray.util\n")
    assert _imported_roots(bad) & set(FORBIDDEN) == {"verl", "ray"}


def test_importing_the_package_loads_neither() -> None:
    code = (
        "import sys, verl_ext.curriculum, verl_ext.curriculum.testing\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('verl', 'ray')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PKG_DIR.parent.parent)
    assert res.returncode == 0, res.stdout + res.stderr
