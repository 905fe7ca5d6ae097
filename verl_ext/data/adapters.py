"""Adapters from published datasets (in their real column layouts) to the data contract.

Training sets: MATH-lighteval (gold = last ``\\boxed{}`` of ``solution``), DeepScaleR (gold = ``answer``), the 15
NuminaMath subsets of the CurES release (``problem``/``answer``) and their concatenation ``numina_pool``.
Evaluation sets: MATH500, GSM8K, Gaokao-2023-EN, Minerva Math, OlympiadBench, AIME 2024, AIME 2025, AMC 2023.
OlympiadBench has two sources: the 674-problem Hugging Face config ``OE_TO_maths_en_COMP`` (PCL's denominator) and
the 675-problem file of the Qwen2.5-Math evaluation suite (``olympiadbench_qwen``, CurES's denominator), pinned to a
commit of that repository (see docs/data.md).

Golds are normalised by ``normalize_gold`` (``verl_ext.data.prepare`` applies it to every source): inner ``$``
delimiters of golds such as ``$48$, $384$``, ``$145$solution:`` or ``20 $cm^{2}$`` are removed so the reward can
parse them.

``load_source`` is the one function that downloads (Hugging Face hub or a pinned URL); with the environment variable
``VERL_EXT_DATA_FIXTURES=<dir>`` it reads ``<dir>/<name>.jsonl`` instead (offline tests of ``make data``).
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from verl_ext.rewards.boxed import last_boxed_content

logger = logging.getLogger(__name__)

Table = Any  # datasets.Dataset | pandas.DataFrame | str | Path
NUMINA_SUBSETS = tuple(range(1, 16))
FIXTURES_ENV = "VERL_EXT_DATA_FIXTURES"
FIXTURE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")

# Qwen2.5-Math evaluation data (the suite CurES reports; SimpleRL-Zoo ships the same OlympiadBench file).
QWEN25_MATH_COMMIT = "a45202bd16f1ec06f433442dc1152d0074773465"
QWEN25_MATH_DATA = f"https://raw.githubusercontent.com/QwenLM/Qwen2.5-Math/{QWEN25_MATH_COMMIT}/evaluation/data"

_MATH_SEGMENT = re.compile(r"\$([^$]*)\$")
_CONNECTOR = re.compile(r"^\s*(?:,|;|and|or|,\s*and|,\s*or)?\s*$", re.IGNORECASE)
_TRAILING_NOISE = re.compile(r"^\s*(?:(?:solution|answer)\s*:?|\.)\s*$", re.IGNORECASE)
_NUMBER = re.compile(r"^\s*-?\d+(?:\.\d+)?\s*$")
_UNIT = re.compile(r"^\s*(?:\\(?:mathrm|text)\s*)?\{?\s*~?[a-zA-Z]{1,6}\s*\}?\s*(?:\^\s*\{?\s*[23]\s*\}?)?\s*$")


def _clean(value: Any) -> str | None:
    """A gold answer as a stripped string; None for missing values. ``27.0`` becomes ``"27"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def normalize_gold(text: str | None) -> str | None:
    """A gold answer the reward can parse: ``$`` delimiters removed, several answers joined with ", ".

    ``$48$, $384$`` and ``$5$ or $9$`` -> ``48, 384`` / ``5, 9``; ``$145$solution:`` -> ``145`` (a trailing
    "solution:", "answer:" or "." dropped); ``20 $cm^{2}$`` -> ``20`` (a unit after a bare number dropped; the reward
    accepts ``\\boxed{20}`` and ``\\boxed{20 \\text{ cm}^2}`` against ``20``); ``$\\frac{1}{2}$`` -> ``\\frac{1}{2}``.
    Text outside the math is kept (``$f(x)=ax+b$, where $b$ is ...`` -> ``f(x)=ax+b, where b is ...``); a lone ``$``
    left by a malformed gold is removed. Golds without ``$`` come back stripped and otherwise unchanged.
    """
    if text is None:
        return None
    text = text.strip()
    if "$" not in text:
        return text or None
    pieces: list[tuple[str, str]] = []  # (kind, content), kind "math" or "text"
    end = 0
    for match in _MATH_SEGMENT.finditer(text):
        pieces.append(("text", text[end : match.start()]))
        pieces.append(("math", match.group(1).strip()))
        end = match.end()
    pieces.append(("text", text[end:]))
    out: list[str] = []
    for i, (kind, content) in enumerate(pieces):
        if kind == "math":
            previous = pieces[i - 1][1] if i else ""
            if _UNIT.match(content) and _NUMBER.match(previous) and out:
                continue  # "20 $cm^{2}$": the unit of the number just before
            if content:
                out.append(content)
            continue
        content = content.replace("$", "")
        has_math_before = any(k == "math" and c for k, c in pieces[:i])
        has_math_after = any(k == "math" and c for k, c in pieces[i + 1 :])
        if has_math_before and has_math_after and _CONNECTOR.match(content):
            out.append(", ")
        elif has_math_before and not has_math_after and _TRAILING_NOISE.match(content):
            continue
        elif content.strip():
            out.append(content)
        elif out and has_math_after:
            out.append(" ")
    joined = re.sub(r"\s+", " ", "".join(out)).strip()
    return joined.strip(" ,") or None


def _gsm8k_answer(row: Mapping[str, Any]) -> str | None:
    """GSM8K's gold is the number after ``####`` in ``answer``, thousands separators removed."""
    answer = str(row["answer"])
    return _clean(answer.split("####")[-1].replace(",", "")) if "####" in answer else None


def _olympiad_answer(row: Mapping[str, Any]) -> str | None:
    """OlympiadBench's ``final_answer`` is a list of ``$...$`` strings, joined with ", " (``normalize_gold`` then
    removes the ``$``)."""
    answers = row["final_answer"]
    if answers is None or isinstance(answers, str):
        answers = [answers] if answers else []
    parts = [str(a).strip() for a in answers if a is not None]
    return _clean(", ".join(p for p in parts if p))


def _olympiad_problem(row: Mapping[str, Any]) -> str:
    context = row.get("context")
    question = str(row["question"])
    return f"{context.strip()}\n{question}" if isinstance(context, str) and context.strip() else question


@dataclass(frozen=True)
class Source:
    """One published dataset: where it lives, which columns it has, how to read problem and gold answer.

    ``hf_id``/``subset``/``split`` name a Hugging Face dataset, loaded at ``revision`` (a commit SHA; None where no
    SHA could be checked, see docs/data.md); ``url`` instead names a file pinned by the commit in its address.
    ``num_rows`` is the published size: a source table of another size is refused unless the caller allows it.
    ``benchmark`` is the evaluation benchmark this source provides (output folder and ``data_source``).
    """

    name: str
    hf_id: str | None
    split: str
    columns: tuple[str, ...]
    problem: Callable[[Mapping[str, Any]], str]
    answer: Callable[[Mapping[str, Any]], str | None]
    kind: str  # "train" or "eval"
    subset: str | None = None
    num_rows: int | None = None
    revision: str | None = None
    url: str | None = None
    benchmark: str | None = None
    # extra ``extra_info`` fields per row (e.g. MATH's ``level``: SEC's arms, AdaRFT's difficulty)
    extra: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None

    @property
    def output_name(self) -> str:
        """The name of the prepared folder and of ``data_source`` (a benchmark's name for its variants)."""
        return self.benchmark or self.name

    def provenance(self) -> dict[str, Any]:
        """Where the rows come from, as recorded in the prepared file's metadata."""
        return {"source": self.name, "hf_id": self.hf_id, "subset": self.subset, "split": self.split,
                "revision": self.revision, "url": self.url, "published_rows": self.num_rows}  # fmt: skip


def _column(name: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda row: row[name]


def _answer_column(name: str) -> Callable[[Mapping[str, Any]], str | None]:
    return lambda row: _clean(row[name])


def _math_extra(row: Mapping[str, Any]) -> dict[str, Any]:
    """MATH's ``level`` ("Level 1".."Level 5"; "Level ?" in a few rows -> None) and ``type`` (subject)."""
    level = str(row.get("level", "")).removeprefix("Level ").strip()
    return {"level": int(level) if level.isdigit() else None, "type": row.get("type")}


def _numina(i: int) -> Source:
    return Source(
        f"numina_{i}",
        f"ScaleML-RLHF/numina_math_{i}",
        "train",
        ("problem", "answer"),
        _column("problem"),
        _answer_column("answer"),
        "train",
    )


SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source(
            "math",
            "DigitalLearningGmbH/MATH-lighteval",
            "train",
            ("problem", "solution"),
            _column("problem"),
            lambda row: last_boxed_content(str(row["solution"])),
            "train",
            num_rows=7500,
            extra=_math_extra,
        ),
        Source(
            "deepscaler",
            "agentica-org/DeepScaleR-Preview-Dataset",
            "train",
            ("problem", "answer"),
            _column("problem"),
            _answer_column("answer"),
            "train",
            num_rows=40315,
        ),
        *[_numina(i) for i in NUMINA_SUBSETS],
        Source(
            "math500",
            "HuggingFaceH4/MATH-500",
            "test",
            ("problem", "answer"),
            _column("problem"),
            _answer_column("answer"),
            "eval",
            num_rows=500,
            revision="ff5b20257d8185524591543f8ff5993951537bb8",
        ),
        Source(
            "gsm8k",
            "openai/gsm8k",
            "test",
            ("question", "answer"),
            _column("question"),
            _gsm8k_answer,
            "eval",
            subset="main",
            num_rows=1319,
        ),
        Source(
            "gaokao2023en",
            "MARIO-Math-Reasoning/Gaokao2023-Math-En",
            "train",
            ("question", "answer"),
            _column("question"),
            _answer_column("answer"),
            "eval",
            num_rows=385,
            revision="6c7bdecd205ed623b5e6c92335deb4f13a7cdd9b",
        ),
        Source(
            "minerva",
            "math-ai/minervamath",
            "test",
            ("question", "answer"),
            _column("question"),
            _answer_column("answer"),
            "eval",
            num_rows=272,
        ),
        Source(
            "olympiadbench",
            "Hothan/OlympiadBench",
            "train",
            ("question", "final_answer"),
            _olympiad_problem,
            _olympiad_answer,
            "eval",
            subset="OE_TO_maths_en_COMP",
            num_rows=674,
            revision="3b426ee1d587c71b495146dde9f3e995ee7ac59f",
        ),
        Source(
            "olympiadbench_qwen",
            None,
            "train",
            ("question", "final_answer"),
            _olympiad_problem,
            _olympiad_answer,
            "eval",
            num_rows=675,
            url=f"{QWEN25_MATH_DATA}/olympiadbench/test.jsonl",
            benchmark="olympiadbench",
        ),
        Source(
            "aime24",
            "HuggingFaceH4/aime_2024",
            "train",
            ("problem", "answer"),
            _column("problem"),
            _answer_column("answer"),
            "eval",
            num_rows=30,
        ),
        Source(
            "aime25",
            "math-ai/aime25",
            "test",
            ("problem", "answer"),
            _column("problem"),
            _answer_column("answer"),
            "eval",
            num_rows=30,
        ),
        Source(
            "amc23",
            "math-ai/amc23",
            "test",
            ("question", "answer"),
            _column("question"),
            _answer_column("answer"),
            "eval",
            num_rows=40,
        ),
    ]
}
EVAL_SOURCES = tuple(name for name, s in SOURCES.items() if s.kind == "eval" and s.benchmark is None)


def get_source(name: str) -> Source:
    """The source called ``name``; the error lists the valid names."""
    if name not in SOURCES:
        raise ValueError(f"unknown dataset {name!r}; valid names: {sorted(SOURCES)} (and 'numina_pool')")
    return SOURCES[name]


def load_hf(dataset_id: str, split: str, subset: str | None = None, revision: str | None = None) -> Any:
    """Download one split of a Hugging Face dataset at ``revision`` (None: the default branch)."""
    import datasets

    return datasets.load_dataset(dataset_id, subset, split=split, revision=revision)


def fixture_dir() -> Path | None:
    """The local fixture folder named by ``VERL_EXT_DATA_FIXTURES``, or None (use the hub)."""
    value = os.environ.get(FIXTURES_ENV)
    if not value:
        return None
    path = Path(value)
    if not path.is_dir():
        raise FileNotFoundError(f"{FIXTURES_ENV}={value}: not a folder; point it at a folder of <name>.jsonl files")
    return path


def load_source(source: Source, revision: str | None = None) -> Table:
    """The source table: from the fixture folder when ``VERL_EXT_DATA_FIXTURES`` is set, else downloaded
    (Hugging Face at ``revision`` or else the registered one, or the pinned URL)."""
    folder = fixture_dir()
    if folder is not None:
        for suffix in FIXTURE_SUFFIXES:
            if (folder / f"{source.name}{suffix}").is_file():
                logger.info("%s: reading the local fixture %s", source.name, folder / f"{source.name}{suffix}")
                return folder / f"{source.name}{suffix}"
        names = [f"{source.name}{suffix}" for suffix in FIXTURE_SUFFIXES]
        raise FileNotFoundError(f"{FIXTURES_ENV}={folder}: no fixture for {source.name!r} (looked for {names})")
    if source.url is not None:
        import datasets

        return datasets.load_dataset("json", data_files=source.url, split="train")
    if source.hf_id is None:
        raise ValueError(f"{source.name}: the source names neither a Hugging Face id nor a URL")
    revision = revision or source.revision
    if revision is None:
        logger.warning(
            "%s: no pinned revision; loading the default branch of %s (pin one with --revision)",
            source.name,
            source.hf_id,
        )
    return load_hf(source.hf_id, source.split, source.subset, revision)


def load_table(table: Table) -> pd.DataFrame:
    """A ``pandas.DataFrame`` from a DataFrame, a ``datasets.Dataset`` or a local parquet/json/jsonl/csv file."""
    if isinstance(table, pd.DataFrame):
        return table.reset_index(drop=True)
    if isinstance(table, str | Path):
        path = Path(table)
        # JSON is read without dtype inference: golds stay the strings the file holds ("4.5e33" is not 4.5e+33)
        readers = {".parquet": pd.read_parquet, ".json": lambda p: pd.read_json(p, dtype=False, convert_dates=False),
                   ".csv": lambda p: pd.read_csv(p, dtype=str, keep_default_na=False)}  # fmt: skip
        if path.suffix == ".jsonl":
            return pd.read_json(path, lines=True, dtype=False, convert_dates=False)
        if path.suffix not in readers:
            raise ValueError(f"{path}: unsupported file type; use one of .parquet .json .jsonl .csv")
        return readers[path.suffix](path)
    if hasattr(table, "to_pandas"):
        return table.to_pandas()
    raise TypeError(f"cannot read a table from {type(table).__name__}; pass a DataFrame, a Dataset or a file path")
