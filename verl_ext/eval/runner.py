"""Evaluate one checkpoint on a suite: read benchmark parquets, sample k responses per problem, score, summarise.

Outputs (``out_dir``): ``<benchmark>.json`` with per-sample records ``{index, sample, response, score, truncated}``
and ``summary.json`` with per-benchmark avg@k (over the paper's denominator: rows dropped at data preparation count
as wrong; ``avg_at_k_kept`` without them), pass@k, spread, problem counts, the decoding profile, model path and
git commit. ``scripts/make_table.py`` reads the summaries.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from verl_ext.data.layout import prepared_file, read_meta
from verl_ext.eval.backends import GenerationBackend
from verl_ext.eval.benchmarks import BENCHMARKS, DecodingProfile, Suite
from verl_ext.eval.metrics import avg_at_k, paper_avg, scores_matrix, summarize_scores
from verl_ext.provenance import commit_label

logger = logging.getLogger(__name__)

__all__ = [
    "BenchmarkFile",
    "EvalConfig",
    "Problem",
    "ScoreFn",
    "default_scorer",
    "evaluate_benchmark",
    "load_benchmark",
    "read_benchmark",
    "run_suite",
]

ScoreFn = Callable[[list[str], list[str], list[bool]], np.ndarray]
REQUIRED_COLUMNS = ("data_source", "prompt", "reward_model", "extra_info")


@dataclass(frozen=True)
class Problem:
    index: int
    messages: list[dict[str, str]]
    ground_truth: str


@dataclass(frozen=True)
class BenchmarkFile:
    """A prepared benchmark: its problems, the samples per problem its rows carry (``__rollout_n__``; None when the
    file has no such column) and the rows preparation dropped (from ``test.meta.json``; 0 without metadata)."""

    path: Path
    problems: list[Problem]
    rollout_n: int | None
    n_dropped: int


@dataclass
class EvalConfig:
    """What to evaluate and how; ``max_samples`` / ``limit`` shrink a run for smoke tests (recorded in the summary)."""

    model_path: str
    suite: Suite
    profile: DecodingProfile
    data_dir: Path
    out_dir: Path
    benchmarks: list[str] | None = None
    max_samples: int | None = None
    limit: int | None = None
    labels: dict[str, Any] = field(default_factory=dict)  # model / method / step / time_hours for the tables


def default_scorer(timeout: float | None = None) -> ScoreFn:
    """The project's binary math reward (``verl_ext.rewards.math_reward.score_batch``), truncated responses → 0.

    ``timeout`` is seconds per math-verify call (None: the reward module's default).
    """
    from verl_ext.rewards.math_reward import score_batch

    def score(responses: list[str], truths: list[str], truncated: list[bool]) -> np.ndarray:
        return np.asarray(score_batch(responses, truths, truncated=truncated, timeout=timeout), dtype=np.float64)

    return score


def _messages(value: Any, row: int, path: Path) -> list[dict[str, str]]:
    msgs = list(value) if value is not None else []
    if not msgs or not all(isinstance(m, dict) and "role" in m and "content" in m for m in msgs):
        raise ValueError(f"{path} row {row}: `prompt` must be a list of chat messages {{role, content}}, got {value!r}")
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in msgs]


def load_benchmark(data_dir: Path, name: str, limit: int | None = None) -> list[Problem]:
    """The problems of ``<data_dir>/<name>/test.parquet`` (see ``read_benchmark``)."""
    return read_benchmark(data_dir, name, limit).problems


def read_benchmark(data_dir: Path, name: str, limit: int | None = None) -> BenchmarkFile:
    """Read ``<data_dir>/<name>/test.parquet`` (``verl_ext.data.layout.prepared_file``; data contract: data_source,
    prompt, reward_model.ground_truth, extra_info.index; optional ``__rollout_n__``) and its metadata; errors name
    the file, row and column to fix."""
    import pandas as pd

    path = prepared_file(data_dir, name, "test")
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: prepare benchmark {name!r} with scripts/prepare_data.py --out {data_dir} "
            "(--data-dir is one template's folder, e.g. $DATA_DIR/qwen_math), or drop it via --benchmarks"
        )
    df = pd.read_parquet(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path} lacks columns {missing}; the data contract needs {list(REQUIRED_COLUMNS)}")
    problems: list[Problem] = []
    for row, rec in enumerate(df.to_dict("records")):
        truth = (rec["reward_model"] or {}).get("ground_truth")
        index = (rec["extra_info"] or {}).get("index")
        if truth is None or str(truth) == "":
            raise ValueError(f"{path} row {row}: reward_model.ground_truth is missing")
        if index is None:
            raise ValueError(f"{path} row {row}: extra_info.index is missing")
        problems.append(Problem(int(index), _messages(rec["prompt"], row, path), str(truth)))
    indices = [p.index for p in problems]
    if len(set(indices)) != len(indices):
        raise ValueError(f"{path}: extra_info.index has duplicates; indices must be unique per benchmark")
    rollout_n = None
    if "__rollout_n__" in df.columns:
        counts = sorted({int(n) for n in df["__rollout_n__"]})
        if len(counts) != 1:
            raise ValueError(f"{path}: __rollout_n__ varies across rows ({counts}); a benchmark has one sample count")
        rollout_n = counts[0]
    meta = read_meta(path) or {}
    n_dropped = int(meta.get("rows_dropped", 0))
    if limit is not None:
        return BenchmarkFile(path, problems[:limit], rollout_n, 0)
    return BenchmarkFile(path, problems, rollout_n, n_dropped)


def check_samples(bench: BenchmarkFile, suite: Suite, name: str) -> None:
    """The file's ``__rollout_n__`` (what verl's ``_validate`` samples during training) must be the suite's k."""
    k = suite.samples[name]
    if bench.rollout_n is not None and bench.rollout_n != k:
        raise ValueError(
            f"{bench.path}: rows carry __rollout_n__={bench.rollout_n} but suite {suite.name!r} samples {name} {k} "
            f"times; prepare it again with scripts/prepare_data.py --suite {suite.name}"
        )


def evaluate_benchmark(backend: GenerationBackend, problems: Sequence[Problem], k: int, params: dict[str, Any],
                       scorer: ScoreFn) -> list[dict[str, Any]]:  # fmt: skip
    """Sample k responses per problem and score them; returns records ``{index, sample, response, score,
    truncated, ground_truth}`` (P·k of them)."""
    gens = backend.generate([p.messages for p in problems], k, params)
    if len(gens) != len(problems) or any(len(g) != k for g in gens):
        raise RuntimeError(f"backend returned {[len(g) for g in gens]} responses for {len(problems)} prompts × {k}")
    flat = [(p, j, g) for p, row in zip(problems, gens) for j, g in enumerate(row)]
    scores = scorer([g.text for _, _, g in flat], [p.ground_truth for p, _, _ in flat], [g.truncated for *_, g in flat])
    return [
        {
            "index": p.index,
            "sample": j,
            "response": g.text,
            "score": float(s),
            "truncated": bool(g.truncated),
            "ground_truth": p.ground_truth,
        }  # fmt: skip
        for (p, j, g), s in zip(flat, scores)
    ]


def _benchmark_summary(
    cfg: EvalConfig, name: str, k: int, params: dict[str, Any], records: list[dict], n_dropped: int = 0
) -> dict:
    """Per-benchmark statistics. ``avg_at_k`` is over the paper's denominator: the ``n_dropped`` rows that
    preparation dropped (no usable gold, e.g. Gaokao-2023-EN's two empty golds of 385) count as wrong, as they do in
    the authors' harnesses where an empty gold never matches; ``avg_at_k_kept`` is over the problems evaluated."""
    _, matrix = scores_matrix(records)
    stats = summarize_scores(matrix)
    n_kept = int(matrix.shape[0])
    kept_avg = avg_at_k(matrix)
    expected = BENCHMARKS[name].n_problems.get(cfg.suite.name)
    k_paper = cfg.suite.samples[name]
    return {
        "label": BENCHMARKS[name].label,
        **stats,
        "avg_at_k": kept_avg * n_kept / (n_kept + n_dropped) if n_kept + n_dropped else kept_avg,
        "avg_at_k_kept": kept_avg,
        "n_dropped": n_dropped,
        "k_paper": k_paper,
        "n_expected": expected,
        "complete": n_kept + n_dropped == expected and k == k_paper,
        "truncated_frac": float(np.mean([r["truncated"] for r in records])),
        "sampling": params,
    }


def run_suite(cfg: EvalConfig, backend: GenerationBackend, scorer: ScoreFn, backend_name: str) -> dict[str, Any]:
    """Evaluate every benchmark of ``cfg.suite`` (or ``cfg.benchmarks``), write the JSON files, return the summary."""
    names = cfg.benchmarks or cfg.suite.benchmarks
    unknown = [n for n in names if n not in cfg.suite.samples]
    if unknown:
        raise ValueError(f"benchmarks {unknown} are not in suite {cfg.suite.name!r}: {cfg.suite.benchmarks}")
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    for name in names:
        k = min(cfg.suite.samples[name], cfg.max_samples or cfg.suite.samples[name])
        params = cfg.profile.for_k(k)
        bench = read_benchmark(cfg.data_dir, name, cfg.limit)
        check_samples(bench, cfg.suite, name)
        problems = bench.problems
        logger.info("evaluating %s: %d problems × %d samples (%d dropped at preparation count as wrong), %s",
                    name, len(problems), k, bench.n_dropped, params)  # fmt: skip
        records = evaluate_benchmark(backend, problems, k, params, scorer)
        results[name] = _benchmark_summary(cfg, name, k, params, records, bench.n_dropped)
        payload = {"benchmark": name, "suite": cfg.suite.name, "profile": cfg.profile.name, "k": k,
                   "records": records}  # fmt: skip
        (cfg.out_dir / f"{name}.json").write_text(json.dumps(payload, indent=1))
    avg, missing = paper_avg({n: r["avg_at_k"] for n, r in results.items()}, cfg.suite.benchmarks)
    summary = {
        "model_path": cfg.model_path,
        **cfg.labels,
        "suite": cfg.suite.name,
        "profile": cfg.profile.to_dict(),
        "backend": backend_name,
        "git_commit": commit_label(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "benchmarks": results,
        "avg": {"value": avg, "missing": missing, "complete": not missing},
    }
    (cfg.out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
