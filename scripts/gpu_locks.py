#!/usr/bin/env python3
"""Generate, read and check the committed lock files of the GPU environments (requirements/gpu-*.txt).

Each lock is ``uv pip compile`` of one extra of pyproject.toml (plus ``dev``) for one Python version and one Linux
platform, resolved from package metadata only (no wheel is downloaded, nothing is built). ``--exclude-newer`` is
recorded in the lock's header, so re-resolving later sees the same package index and gives the same pins unless
pyproject.toml changed; ``check`` does exactly that and names every pin that differs.

    python scripts/gpu_locks.py compile [--only gpu-vllm] [--exclude-newer 2026-12-05T00:00:00Z]
    python scripts/gpu_locks.py check   [--only gpu-sglang]
    python scripts/gpu_locks.py info requirements/gpu-vllm.txt     # python version, platform, CUDA of torch

Standard library only: the GPU pre-flight (scripts/check_gpu_env.py) imports it before any environment exists.
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UV_ENV = {"UV_PYTHON_DOWNLOADS": "never"}


@dataclass(frozen=True)
class LockSpec:
    """One GPU environment: which extras of pyproject.toml, for which interpreter and platform."""

    name: str
    extras: tuple[str, ...]
    python_version: str
    platform: str
    engine: str

    @property
    def path(self) -> Path:
        return self.path_in(ROOT)

    def path_in(self, root: Path) -> Path:
        return root / "requirements" / f"{self.name}.txt"


# vLLM 0.24's wheels are manylinux_2_28 (RHEL 8 and newer); SGLang 0.5.11+ ships only manylinux_2_34 cp312 wheels.
LOCKS: dict[str, LockSpec] = {
    "gpu-vllm": LockSpec("gpu-vllm", ("gpu", "dev"), "3.12", "x86_64-manylinux_2_28", "vllm"),
    "gpu-sglang": LockSpec("gpu-sglang", ("sglang", "dev"), "3.12", "x86_64-manylinux_2_34", "sglang"),
}


def find_uv() -> str:
    """The ``uv`` next to this interpreter (the dev extra installs it), else the one on PATH."""
    local = Path(sys.executable).parent / "uv"
    if local.exists():
        return str(local)
    found = shutil.which("uv")
    if found is None:
        raise SystemExit("uv not found: install the dev extra (pip install 'uv==0.13.9') or put uv on PATH")
    return found


def compile_args(spec: LockSpec, exclude_newer: str, output: Path) -> list[str]:
    """The ``uv pip compile`` arguments (after the executable) that produce ``spec``'s lock into ``output``."""
    args = ["pip", "compile", "pyproject.toml"]
    for extra in spec.extras:
        args += ["--extra", extra]
    args += [
        "--python-version",
        spec.python_version,
        "--python-platform",
        spec.platform,
        "--exclude-newer",
        exclude_newer,
        "-o",
        str(output),
    ]
    return args


def run_uv(args: list[str], *, quiet: bool = False, root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **UV_ENV}
    proc = subprocess.run([find_uv(), *args], cwd=root, env=env, capture_output=True, text=True)
    if proc.returncode != 0 and not quiet:
        sys.stderr.write(proc.stderr)
    return proc


@dataclass(frozen=True)
class LockInfo:
    """What a lock's header and pins say about the environment it describes."""

    python_version: str
    platform: str
    exclude_newer: str
    pins: dict[str, str]

    @property
    def glibc(self) -> tuple[int, int]:
        m = re.search(r"manylinux_(\d+)_(\d+)", self.platform)
        if m is None:
            raise ValueError(f"platform {self.platform!r} names no manylinux_X_Y glibc")
        return int(m.group(1)), int(m.group(2))

    @property
    def torch_cuda(self) -> tuple[int, int]:
        """CUDA version of the torch build the lock installs (its ``nvidia-cuda-runtime`` pin)."""
        for name, version in self.pins.items():
            if re.fullmatch(r"nvidia-cuda-runtime(-cu\d+)?", name):
                major, minor = version.split(".")[:2]
                return int(major), int(minor)
        raise ValueError("the lock pins no nvidia-cuda-runtime: cannot tell which CUDA build of torch it installs")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> LockInfo:
    """Parse a lock written by ``compile``: the options of its header command and its ``name==version`` pins."""
    text = path.read_text()
    header = (line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#"))
    command = next((line for line in header if line.startswith("uv pip compile")), "")
    if not command:
        raise ValueError(f"{path}: no 'uv pip compile' command in the header; regenerate it with `make locks`")
    words = shlex.split(command)
    options = {}
    for key in ("--python-version", "--python-platform", "--exclude-newer"):
        if key not in words or words.index(key) + 1 >= len(words):
            raise ValueError(f"{path}: header command lacks {key}; regenerate it with `make locks`")
        options[key] = words[words.index(key) + 1]
    return LockInfo(
        python_version=options["--python-version"],
        platform=options["--python-platform"],
        exclude_newer=options["--exclude-newer"],
        pins=pins_of(text),
    )


def pins_of(text: str) -> dict[str, str]:
    """``{normalised name: version}`` of every ``name==version`` line (comments and annotations ignored)."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;]+)(\s*;.*)?", line)
        if m is None:
            raise ValueError(f"unexpected lock line {line!r}: expected name==version")
        pins[normalise(m.group(1))] = m.group(3)
    return pins


def now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def cmd_compile(specs: list[LockSpec], exclude_newer: str) -> int:
    for spec in specs:
        spec.path.parent.mkdir(exist_ok=True)
        output = spec.path.relative_to(ROOT)
        # uv keeps the pins of an existing output file where they still satisfy pyproject; the check resolves into
        # an empty file, so the lock must be resolved from scratch too, or the two can disagree (seen: idna)
        spec.path.unlink(missing_ok=True)
        proc = run_uv(compile_args(spec, exclude_newer, output))
        if proc.returncode != 0:
            return proc.returncode
        print(f"wrote {output} ({len(read_lock(spec.path).pins)} pins, index as of {exclude_newer})")
    return 0


def resolve(spec: LockSpec, exclude_newer: str, root: Path = ROOT) -> tuple[dict[str, str] | None, str]:
    """Resolve ``spec`` from ``root``/pyproject.toml as of ``exclude_newer``: (pins, "") or (None, uv's error)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{spec.name}.txt"
        proc = run_uv(compile_args(spec, exclude_newer, out), quiet=True, root=root)
        if proc.returncode != 0:
            return None, proc.stderr
        return pins_of(out.read_text()), ""


def compare(spec: LockSpec, committed: dict[str, str], fresh: dict[str, str]) -> list[str]:
    """The lock's disagreement with a fresh resolution, as one message with a diff of the pins (empty: in sync)."""
    if fresh == committed:
        return []
    a = [f"{k}=={v}" for k, v in sorted(committed.items())]
    b = [f"{k}=={v}" for k, v in sorted(fresh.items())]
    diff = "\n".join(difflib.unified_diff(a, b, "committed", "pyproject.toml", lineterm="", n=0))
    return [f"requirements/{spec.name}.txt is out of sync with pyproject.toml (run `make locks`):\n{diff}"]


def check_lock(spec: LockSpec, root: Path = ROOT) -> list[str]:
    """Re-resolve ``spec`` from pyproject.toml as of its lock's ``--exclude-newer``; the differing pins, if any."""
    path = spec.path_in(root)
    if not path.exists():
        return [f"requirements/{spec.name}.txt is missing: run `make locks`"]
    committed = read_lock(path)
    fresh, error = resolve(spec, committed.exclude_newer, root)
    if fresh is None:
        return [f"{spec.name}: pyproject.toml's extras {list(spec.extras)} no longer resolve:\n{error}"]
    return compare(spec, committed.pins, fresh)


def cmd_check(specs: list[LockSpec]) -> int:
    problems = [p for spec in specs for p in check_lock(spec)]
    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print("locks in sync with pyproject.toml: " + ", ".join(s.name for s in specs))
    return 1 if problems else 0


def cmd_info(path: Path) -> int:
    info = read_lock(path)
    cuda = ".".join(map(str, info.torch_cuda))
    print(f"python={info.python_version} platform={info.platform} torch={info.pins.get('torch')} cuda={cuda}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("compile", "check"):
        p = sub.add_parser(name)
        p.add_argument("--only", choices=sorted(LOCKS), action="append", help="one lock (repeatable); default all")
        if name == "compile":
            p.add_argument("--exclude-newer", default=None, help="index snapshot (RFC 3339); default now")
    p = sub.add_parser("info")
    p.add_argument("lock", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "info":
        return cmd_info(args.lock)
    specs = [LOCKS[n] for n in (args.only or sorted(LOCKS))]
    if args.cmd == "compile":
        return cmd_compile(specs, args.exclude_newer or now_utc())
    return cmd_check(specs)


if __name__ == "__main__":
    sys.exit(main())
