"""Adapters: hand-made rows in each Hugging Face source's real column layout → contract rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from verl_ext.data.adapters import EVAL_SOURCES, SOURCES, load_table
from verl_ext.data.contract import DataValidationError, validate_rows, write_dataset
from verl_ext.data.prepare import numina_pool_rows, prepare_numina_pool, prepare_source, source_rows
from verl_ext.data.templates import INSTRUCTION, PASSTHROUGH_CHAT_TEMPLATE, QWEN_MATH_SYSTEM, get_template

# One or two rows per source, with the published columns (extra columns included where the source has them).
SOURCE_TABLES: dict[str, tuple[pd.DataFrame, list[str], list[str]]] = {
    "math": (
        pd.DataFrame(
            {
                "problem": ["What is $1+1$?", "Simplify $\\frac{2}{4}$."],
                "level": ["Level 1", "Level 2"],
                "type": ["Algebra", "Prealgebra"],
                "solution": ["$1+1=\\boxed{2}$.", "We get \\boxed{1} no, \\boxed{\\frac{1}{2}}."],
            }
        ),
        ["What is $1+1$?", "Simplify $\\frac{2}{4}$."],
        ["2", "\\frac{1}{2}"],
    ),
    "deepscaler": (
        pd.DataFrame({"problem": ["Find $x$ if $2x=6$."], "answer": ["3"], "solution": ["$x=3$"]}),
        ["Find $x$ if $2x=6$."],
        ["3"],
    ),
    "numina_4": (
        pd.DataFrame({"problem": ["Compute $3^2$."], "answer": ["9"]}),
        ["Compute $3^2$."],
        ["9"],
    ),
    "math500": (
        pd.DataFrame(
            {
                "problem": ["What is $\\sqrt{16}$?"],
                "solution": ["It is $\\boxed{4}$."],
                "answer": ["4"],
                "subject": ["Algebra"],
                "level": [1],
                "unique_id": ["test/algebra/1.json"],
            }
        ),
        ["What is $\\sqrt{16}$?"],
        ["4"],
    ),
    "gsm8k": (
        pd.DataFrame(
            {
                "question": ["Tom has 1,000 apples and buys 234 more. How many?"],
                "answer": ["1000+234=<<1000+234=1234>>1234\n#### 1,234"],
            }
        ),
        ["Tom has 1,000 apples and buys 234 more. How many?"],
        ["1234"],
    ),
    "gaokao2023en": (
        pd.DataFrame(
            {
                "question": ["Given $z=1+i$, find $|z|^2$."],
                "answer": ["2"],
                "source": ["gaokao"],
                "lang": ["en"],
                "sourcename": ["2023"],
                "id": [0],
            }
        ),
        ["Given $z=1+i$, find $|z|^2$."],
        ["2"],
    ),
    "minerva": (
        pd.DataFrame({"question": ["Compute the speed of light in m/s."], "answer": ["3e8"]}),
        ["Compute the speed of light in m/s."],
        ["3e8"],
    ),
    "olympiadbench": (
        pd.DataFrame(
            {
                "id": [1, 2],
                "question": ["Find all $n$.", "Compute $m$."],
                "solution": [["..."], ["..."]],
                "final_answer": [["$3$", "$5$"], ["$\\frac{1}{2}$"]],
                "context": [None, "Let $m$ be the mean."],
                "is_multiple_answer": [True, False],
                "unit": [None, None],
                "answer_type": ["Numerical", "Numerical"],
                "subfield": ["Number Theory", "Algebra"],
            }
        ),
        ["Find all $n$.", "Let $m$ be the mean.\nCompute $m$."],
        ["3, 5", "\\frac{1}{2}"],
    ),
    "olympiadbench_qwen": (  # the Qwen2.5-Math evaluation file's layout (675 rows; CurES's denominator)
        pd.DataFrame(
            {
                "id": [2340, 2950],
                "subfield": ["Algebra", "Geometry"],
                "context": [None, None],
                "question": ["Find all $n$.", "Find both points."],
                "solution": [["..."], ["..."]],
                "final_answer": [["$8$,$4$"], ["$(-6,6)$, $(2,6)$"]],
                "is_multiple_answer": [True, True],
                "unit": [None, None],
                "answer_type": ["Numerical", "Tuple"],
                "error": [None, None],
            }
        ),
        ["Find all $n$.", "Find both points."],
        ["8, 4", "(-6,6), (2,6)"],
    ),
    "aime24": (
        pd.DataFrame(
            {
                "id": [60],
                "problem": ["Find the remainder."],
                "solution": ["..."],
                "answer": ["204"],
                "url": ["https://artofproblemsolving.com"],
                "year": ["2024"],
            }
        ),
        ["Find the remainder."],
        ["204"],
    ),
    "aime25": (
        pd.DataFrame({"problem": ["Find the sum."], "answer": ["70"], "id": ["0"]}),
        ["Find the sum."],
        ["70"],
    ),
    "amc23": (
        pd.DataFrame({"id": [0], "question": ["How many?"], "answer": [27.0], "url": ["u"]}),
        ["How many?"],
        ["27"],
    ),
}


def test_every_source_has_a_test_table() -> None:
    covered = {name if not name.startswith("numina_") else "numina" for name in SOURCE_TABLES}
    assert covered == {name if not name.startswith("numina_") else "numina" for name in SOURCES}
    assert set(EVAL_SOURCES) == {
        "math500",
        "gsm8k",
        "gaokao2023en",
        "minerva",
        "olympiadbench",
        "aime24",
        "aime25",
        "amc23",
    }


@pytest.mark.parametrize("name", sorted(SOURCE_TABLES))
def test_source_rows_follow_the_contract(name: str) -> None:
    table, problems, golds = SOURCE_TABLES[name]
    rows = source_rows(name, table, template="qwen_math")
    validate_rows(pd.DataFrame(rows))
    assert [r["reward_model"]["ground_truth"] for r in rows] == golds
    assert [r["prompt"][-1]["content"] for r in rows] == [f"{p} {INSTRUCTION}" for p in problems]
    assert all(r["prompt"][0] == {"role": "system", "content": QWEN_MATH_SYSTEM} for r in rows)
    assert [r["extra_info"]["index"] for r in rows] == list(range(len(rows)))
    assert [r["extra_info"]["source_row"] for r in rows] == list(range(len(rows)))
    assert {r["data_source"] for r in rows} == {SOURCES[name].output_name}
    expected_split = "train" if SOURCES[name].kind == "train" else "test"
    assert {r["extra_info"]["split"] for r in rows} == {expected_split}


def test_templates() -> None:
    base = get_template("qwen3_base").messages("What is 1+1?")
    assert base == [{"role": "user", "content": f"What is 1+1? {INSTRUCTION}"}]
    assert get_template("llama_instruct").messages("Q") == [{"role": "user", "content": f"Q {INSTRUCTION}"}]
    assert get_template("llama_instruct").chat_template is None
    math = get_template("qwen_math").messages("Q", drop_final_period=True)
    assert math[1]["content"] == "Q Let's think step by step and output the final answer within \\boxed{}"
    assert math[0]["content"] == "Please reason step by step, and put your final answer within \\boxed{}."
    with pytest.raises(ValueError, match="valid names: \\['llama_instruct', 'qwen3_base', 'qwen_math'\\]"):
        get_template("qwen")


def test_passthrough_template_renders_plain_text(qwen_tokenizer: Any) -> None:
    messages = get_template("qwen3_base").messages("What is 1+1?")
    text = qwen_tokenizer.apply_chat_template(
        messages, chat_template=PASSTHROUGH_CHAT_TEMPLATE, add_generation_prompt=True, tokenize=False
    )
    assert text == f"What is 1+1? {INSTRUCTION}"
    stock = qwen_tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert stock.startswith("<|im_start|>")  # the stock template does add special tokens


def test_rollout_n_column_for_evaluation_sets() -> None:
    table, _, _ = SOURCE_TABLES["aime24"]
    rows = source_rows("aime24", table, rollout_n=16)
    assert [r["__rollout_n__"] for r in rows] == [16]


def test_missing_gold_is_dropped_with_a_report_or_refused_when_strict() -> None:
    table = pd.DataFrame(
        {
            "problem": ["a", "b", "c"],
            "solution": ["\\boxed{1}", "no boxed answer here", "\\boxed{3}"],
            "level": ["1"] * 3,
            "type": ["x"] * 3,
        }
    )
    with pytest.raises(DataValidationError) as info:
        validate_rows(pd.DataFrame(source_rows("math", table)))
    assert [row for row, _ in info.value.problems] == [1]
    prepared = prepare_source("math", table, allow_size_mismatch=True)
    assert [r["reward_model"]["ground_truth"] for r in prepared.rows] == ["1", "3"]
    assert [r["extra_info"]["index"] for r in prepared.rows] == [0, 1]
    assert [r["extra_info"]["source_row"] for r in prepared.rows] == [0, 2]
    assert prepared.dropped == [{"source_row": 1, "reason": "reward_model.ground_truth is missing or empty (got '')"}]
    assert prepared.source_rows == 3 and prepared.meta["hf_id"] == "DigitalLearningGmbH/MATH-lighteval"
    with pytest.raises(DataValidationError, match="row 1: reward_model.ground_truth is missing"):
        prepare_source("math", table, strict=True, allow_size_mismatch=True)


def test_size_mismatch_is_refused_unless_allowed() -> None:
    from verl_ext.data.prepare import SizeMismatchError

    table, _, _ = SOURCE_TABLES["aime24"]
    with pytest.raises(SizeMismatchError, match="aime24: the source table has 1 rows, the published split has 30"):
        prepare_source("aime24", table)
    allowed = prepare_source("aime24", table, allow_size_mismatch=True)
    assert allowed.meta["size_check"] == "mismatch allowed: 1 rows, published 30"


def test_numina_pool_drops_and_reports_by_subset() -> None:
    tables = [pd.DataFrame({"problem": [f"p{i}a", f"p{i}b"], "answer": [f"{i}", None if i == 3 else "x"]})
              for i in range(1, 16)]  # fmt: skip
    prepared = prepare_numina_pool(tables)
    assert len(prepared.rows) == 29 and prepared.source_rows == 30
    assert [r["extra_info"]["index"] for r in prepared.rows] == list(range(29))
    assert prepared.dropped[0]["subset"] == 3 and prepared.dropped[0]["subset_row"] == 1
    assert prepared.dropped[0]["source_row"] == 5


def test_empty_problem_is_refused_with_its_row() -> None:
    table = pd.DataFrame({"problem": ["ok", None], "answer": ["1", "2"], "solution": ["", ""]})
    with pytest.raises(DataValidationError) as info:
        validate_rows(pd.DataFrame(source_rows("deepscaler", table)))
    assert info.value.problems == [(1, "prompt[0].content is empty or not a string")]


def test_wrong_columns_name_the_layout() -> None:
    with pytest.raises(ValueError, match=r"deepscaler: the table lacks columns \['answer'\]"):
        source_rows("deepscaler", pd.DataFrame({"problem": ["x"], "gold": ["1"]}))
    with pytest.raises(ValueError, match="unknown dataset 'mathh'"):
        source_rows("mathh", pd.DataFrame())


def test_numina_pool_concatenates_subsets_in_order(tmp_path: Path) -> None:
    tables = [pd.DataFrame({"problem": [f"p{i}a", f"p{i}b"], "answer": [f"{i}", f"{i + 100}"]}) for i in range(1, 16)]
    rows = numina_pool_rows(tables, template="qwen_math", drop_final_period=True)
    assert len(rows) == 30
    assert [r["extra_info"]["index"] for r in rows] == list(range(30))
    assert [(r["extra_info"]["subset"], r["extra_info"]["subset_row"]) for r in rows[:4]] == [
        (1, 0),
        (1, 1),
        (2, 0),
        (2, 1),
    ]
    assert rows[-1]["extra_info"]["subset"] == 15 and rows[-1]["reward_model"]["ground_truth"] == "115"
    assert rows[0]["prompt"][1]["content"].endswith("\\boxed{}")
    df = pd.read_parquet(write_dataset(rows, tmp_path / "train.parquet"))
    assert [int(info["subset"]) for info in df["extra_info"]][::2] == list(range(1, 16))
    with pytest.raises(ValueError, match="need 15 tables"):
        numina_pool_rows(tables[:3])


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".json", ".csv"])
def test_load_table_from_local_files(tmp_path: Path, suffix: str) -> None:
    df = pd.DataFrame({"problem": ["a", "b"], "answer": ["1", "2"]})
    path = tmp_path / f"src{suffix}"
    {
        ".parquet": lambda: df.to_parquet(path),
        ".jsonl": lambda: df.to_json(path, orient="records", lines=True),
        ".json": lambda: df.to_json(path, orient="records"),
        ".csv": lambda: df.to_csv(path, index=False),
    }[suffix]()
    loaded = load_table(path)
    assert loaded["problem"].tolist() == ["a", "b"] and loaded["answer"].astype(str).tolist() == ["1", "2"]


def test_load_table_from_datasets_dataset() -> None:
    import datasets

    ds = datasets.Dataset.from_dict({"problem": ["a"], "answer": ["1"], "solution": [""]})
    rows = source_rows("deepscaler", ds)
    assert rows[0]["reward_model"]["ground_truth"] == "1"
    with pytest.raises(ValueError, match="unsupported file type"):
        load_table("data.txt")


def test_load_source_pins_revisions_and_reads_fixtures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import verl_ext.data.adapters as adapters

    calls = []
    monkeypatch.setattr(adapters, "load_hf", lambda *args: calls.append(args) or "table")
    monkeypatch.delenv(adapters.FIXTURES_ENV, raising=False)
    assert adapters.load_source(SOURCES["gaokao2023en"]) == "table"
    assert adapters.load_source(SOURCES["deepscaler"], revision="abc") == "table"
    assert calls == [
        ("MARIO-Math-Reasoning/Gaokao2023-Math-En", "train", None, "6c7bdecd205ed623b5e6c92335deb4f13a7cdd9b"),
        ("agentica-org/DeepScaleR-Preview-Dataset", "train", None, "abc"),
    ]
    assert "/QwenLM/Qwen2.5-Math/a45202bd16f1ec06f433442dc1152d0074773465/" in SOURCES["olympiadbench_qwen"].url
    (tmp_path / "aime24.jsonl").write_text('{"problem": "p", "answer": "1"}\n')
    monkeypatch.setenv(adapters.FIXTURES_ENV, str(tmp_path))
    assert adapters.load_source(SOURCES["aime24"]) == tmp_path / "aime24.jsonl"
    with pytest.raises(FileNotFoundError, match="no fixture for 'aime25'"):
        adapters.load_source(SOURCES["aime25"])
    monkeypatch.setenv(adapters.FIXTURES_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="not a folder"):
        adapters.load_source(SOURCES["aime24"])


def test_math_rows_carry_level_and_type_for_level_keyed_curricula(tmp_path: Path) -> None:
    """SEC's arms and AdaRFT's difficulty read ``extra_info.level`` of the MATH training rows."""
    table = pd.DataFrame(
        {
            "problem": ["What is $1+1$?", "What is $2+2$?"],
            "level": ["Level 3", "Level ?"],
            "type": ["Algebra", "Geometry"],
            "solution": ["$\\boxed{2}$", "$\\boxed{4}$"],
        }
    )
    rows = source_rows("math", table, template="qwen3_base")
    assert [r["extra_info"]["level"] for r in rows] == [3, None]
    assert [r["extra_info"]["type"] for r in rows] == ["Algebra", "Geometry"]
    write_dataset(rows, tmp_path / "train.parquet")
    back = pd.read_parquet(tmp_path / "train.parquet")
    assert [e["level"] for e in back["extra_info"]] == [3, None]
