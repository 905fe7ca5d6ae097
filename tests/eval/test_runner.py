"""Benchmark loading (data contract), the registry and profiles, and run_suite with a scripted backend."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from verl_ext.eval.backends import Generation, make_backend, render_prompt
from verl_ext.eval.benchmarks import BENCHMARKS, PROFILES, SUITES, get_profile, get_suite
from verl_ext.eval.runner import EvalConfig, default_scorer, load_benchmark, run_suite


class ScriptedBackend:
    """Answers from a table: problem text → list of k responses (with a truncation flag)."""

    def __init__(self, answers: dict[str, list[tuple[str, bool]]]) -> None:
        self.answers = answers
        self.calls: list[tuple[int, dict]] = []

    def generate(self, prompts: Sequence[Any], n: int, params: dict[str, Any]) -> list[list[Generation]]:
        self.calls.append((n, params))
        out = []
        for msgs in prompts:
            key = msgs[-1]["content"].split(" Let's")[0]
            out.append([Generation(t, trunc) for t, trunc in self.answers[key][:n]])
        return out


def test_suites_follow_the_specs() -> None:
    assert SUITES["pcl"].samples == {"math500": 1, "olympiadbench": 1, "minerva": 4, "amc23": 32, "aime24": 32,
                                     "aime25": 32}  # fmt: skip
    cures = SUITES["cures"].samples
    assert [b for b, k in cures.items() if k == 16] == ["aime24", "aime25", "amc23"]
    assert all(cures[b] == 1 for b in ("math500", "gsm8k", "gaokao2023en", "minerva", "olympiadbench"))
    assert BENCHMARKS["olympiadbench"].hf_config == "OE_TO_maths_en_COMP"
    assert BENCHMARKS["olympiadbench"].n_problems == {"pcl": 674, "cures": 675}
    for suite in SUITES.values():
        assert suite.default_profile in PROFILES
        assert all(b in BENCHMARKS and suite.name in BENCHMARKS[b].n_problems for b in suite.benchmarks)
    with pytest.raises(ValueError, match="choose one of"):
        get_suite("nope")


def test_profiles() -> None:
    default = get_profile("cures_default")
    assert default.for_k(1) == {"do_sample": False, "temperature": 0.0, "top_p": 1.0, "top_k": -1,
                                "max_new_tokens": 3072}  # fmt: skip
    assert default.for_k(16)["temperature"] == 0.6 and default.for_k(16)["do_sample"]
    assert get_profile("cures_release").for_k(1)["do_sample"]  # release samples everywhere, T 1.0
    assert get_profile("pcl_math").for_k(1)["top_k"] == 20
    assert get_profile("pcl_deepscaler").for_k(32)["top_k"] == -1


def test_render_prompt_strips_final_period_for_release() -> None:
    class Tok:
        def apply_chat_template(self, msgs: list, add_generation_prompt: bool, tokenize: bool) -> str:
            return "|".join(m["content"] for m in msgs) + ("<gen>" if add_generation_prompt else "")

    msgs = [{"role": "user", "content": "Solve it within \\boxed{}."}]
    assert render_prompt(Tok(), msgs) == "Solve it within \\boxed{}.<gen>"
    assert render_prompt(Tok(), msgs, strip_final_period=True) == "Solve it within \\boxed{}<gen>"
    assert msgs[0]["content"].endswith(".")  # caller's messages untouched


def test_load_benchmark_errors_name_the_fix(tmp_path: Path, make_rows: Any, save_benchmark: Any) -> None:
    with pytest.raises(FileNotFoundError, match="--benchmarks"):
        load_benchmark(tmp_path, "math500")
    df = make_rows("math500", [("a", "1"), ("b", "2")])
    save_benchmark(df.drop(columns=["extra_info"]), tmp_path, "math500")
    with pytest.raises(ValueError, match=r"lacks columns \['extra_info'\]"):
        load_benchmark(tmp_path, "math500")
    df["extra_info"] = [{"index": 0}, {"index": 0}]
    save_benchmark(df, tmp_path, "math500")
    with pytest.raises(ValueError, match="duplicates"):
        load_benchmark(tmp_path, "math500")
    df["extra_info"] = [{"index": 0}, {"index": 1}]
    df["reward_model"] = [{"ground_truth": "1"}, {"ground_truth": ""}]
    save_benchmark(df, tmp_path, "math500")
    with pytest.raises(ValueError, match="row 1: reward_model.ground_truth"):
        load_benchmark(tmp_path, "math500")


def test_run_suite_with_scripted_backend_and_project_reward(
    tmp_path: Path, make_rows: Any, save_benchmark: Any
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    save_benchmark(make_rows("math500", [("What is 2+2?", "4"), ("What is 3*5?", "15")]), data, "math500")
    save_benchmark(make_rows("minerva", [("Find 7*11.", "77")]), data, "minerva")
    backend = ScriptedBackend({
        "What is 2+2?": [("so \\boxed{4}", False)],
        "What is 3*5?": [("\\boxed{16}", False)],
        # correct text but truncated → 0 (project reward rule); two correct of four
        "Find 7*11.": [("\\boxed{77}", False), ("\\boxed{77}", True), ("\\boxed{78}", False), ("\\boxed{77}", False)],
    })  # fmt: skip
    cfg = EvalConfig("fake-model", SUITES["pcl"], PROFILES["pcl_deepscaler"], data, tmp_path / "out",
                     benchmarks=["math500", "minerva"], labels={"model": "m", "method": "x"})  # fmt: skip
    summary = run_suite(cfg, backend, default_scorer(), "scripted")
    assert [n for n, _ in backend.calls] == [1, 4]
    math500, minerva = summary["benchmarks"]["math500"], summary["benchmarks"]["minerva"]
    assert math500["avg_at_k"] == pytest.approx(0.5) and math500["n_problems"] == 2 and not math500["complete"]
    assert minerva["avg_at_k"] == pytest.approx(0.5) and minerva["k"] == 4
    assert minerva["pass_at_k"]["2"] == pytest.approx(1 - 1 / 6)  # 1 − C(2,2)/C(4,2)
    assert minerva["truncated_frac"] == pytest.approx(0.25)
    assert summary["avg"]["missing"] == ["olympiadbench", "amc23", "aime24", "aime25"]
    assert summary["profile"]["name"] == "pcl_deepscaler" and summary["model_path"] == "fake-model"
    assert summary["git_commit"]
    records = json.loads((tmp_path / "out" / "minerva.json").read_text())["records"]
    assert [(r["index"], r["sample"], r["score"], r["truncated"]) for r in records] == [
        (0, 0, 1.0, False), (0, 1, 0.0, True), (0, 2, 0.0, False), (0, 3, 1.0, False)]  # fmt: skip
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["benchmarks"]["minerva"]["k"] == 4


def test_run_suite_caps_samples_and_rejects_foreign_benchmarks(
    tmp_path: Path, make_rows: Any, save_benchmark: Any
) -> None:
    save_benchmark(make_rows("aime24", [("q", "1")]), tmp_path, "aime24")
    backend = ScriptedBackend({"q": [("\\boxed{1}", False)] * 32})
    zero = lambda r, t, c: np.zeros(len(r))  # noqa: E731
    cfg = EvalConfig("m", SUITES["cures"], PROFILES["cures_default"], tmp_path, tmp_path / "o", ["aime24"], 3)
    summary = run_suite(cfg, backend, zero, "scripted")
    assert summary["benchmarks"]["aime24"]["k"] == 3 and summary["benchmarks"]["aime24"]["k_paper"] == 16
    assert backend.calls[0][1]["temperature"] == 0.6  # Average@16 samples even in the greedy-Pass@1 profile
    cfg.benchmarks = ["aime24", "amc22"]
    with pytest.raises(ValueError, match="not in suite"):
        run_suite(cfg, backend, zero, "scripted")
    with pytest.raises(ValueError, match="'hf'"):
        make_backend("tgi", "m")


def test_dropped_rows_count_against_the_papers_denominator(tmp_path: Path, make_rows: Any, save_benchmark: Any) -> None:
    from verl_ext.data.layout import sidecar

    # Gaokao-2023-EN: CurES scores out of 385; preparation dropped 2 empty golds, recorded in test.meta.json
    rows = make_rows("gaokao2023en", [("q1", "1"), ("q2", "2"), ("q3", "3")])
    path = save_benchmark(rows, tmp_path, "gaokao2023en")
    sidecar(path, "meta").write_text(json.dumps({"rows_dropped": 2, "rows_written": 3}))
    backend = ScriptedBackend({"q1": [("\\boxed{1}", False)], "q2": [("\\boxed{2}", False)], "q3": [("no", False)]})
    scorer = lambda r, t, c: np.array([float(x == f"\\boxed{{{y}}}") for x, y in zip(r, t)])  # noqa: E731
    cfg = EvalConfig("m", SUITES["cures"], PROFILES["cures_default"], tmp_path, tmp_path / "o", ["gaokao2023en"])
    result = run_suite(cfg, backend, scorer, "scripted")["benchmarks"]["gaokao2023en"]
    assert result["avg_at_k_kept"] == pytest.approx(2 / 3)
    assert result["avg_at_k"] == pytest.approx(2 / 5)  # the two dropped problems count as wrong
    assert result["n_dropped"] == 2 and result["n_problems"] == 3 and result["n_expected"] == 385
    assert not result["complete"]  # 3 + 2 != 385
    # a smoke run (--limit) ignores the dropped rows: it is not a full evaluation
    cfg.limit = 2
    assert run_suite(cfg, backend, scorer, "scripted")["benchmarks"]["gaokao2023en"]["n_dropped"] == 0


def test_rollout_n_of_the_file_must_be_the_suites(tmp_path: Path, make_rows: Any, save_benchmark: Any) -> None:
    df = make_rows("aime24", [("q", "1")])
    df["__rollout_n__"] = [32]  # prepared for PCL (Avg@32), evaluated with CurES's suite (Average@16)
    save_benchmark(df, tmp_path, "aime24")
    backend = ScriptedBackend({"q": [("\\boxed{1}", False)] * 32})
    cfg = EvalConfig("m", SUITES["cures"], PROFILES["cures_default"], tmp_path, tmp_path / "o", ["aime24"], 2)
    with pytest.raises(ValueError, match=r"__rollout_n__=32 but suite 'cures' samples aime24 16 times.*--suite cures"):
        run_suite(cfg, backend, lambda r, t, c: np.zeros(len(r)), "scripted")
    cfg.suite = SUITES["pcl"]
    cfg.profile = PROFILES["pcl_deepscaler"]
    assert run_suite(cfg, backend, lambda r, t, c: np.zeros(len(r)), "scripted")["benchmarks"]["aime24"]["k"] == 2
