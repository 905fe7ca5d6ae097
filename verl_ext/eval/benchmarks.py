"""Benchmark registry, evaluation suites and decoding profiles of PCL (App. C.4) and CurES (Table 1).

Suites and profiles are described in docs/evaluation.md.

Benchmarks are read from local parquet files in the project's data contract, ``<data_dir>/<name>/test.parquet``
(``verl_ext.data.layout.prepared_file``; ``data_dir`` is one template's folder, e.g. ``$DATA_DIR/qwen_math``). Each
benchmark names, per suite, the source ``scripts/prepare_data.py`` takes it from (``verl_ext.data.adapters.SOURCES``;
nothing is downloaded at eval time) and the problem count of that suite's paper.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = [
    "BENCHMARKS",
    "PROFILES",
    "SUITES",
    "Benchmark",
    "DecodingProfile",
    "Suite",
    "get_profile",
    "get_suite",
    "suite_sources",
]


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: its Hugging Face source and expected size.

    ``n_problems`` maps a suite name to the problem count that suite's paper used (its denominator), and
    ``sources`` to the data source prepared for that suite when it is not the benchmark's own name (OlympiadBench:
    PCL's 674-problem ``OE_TO_maths_en_COMP`` config vs the 675-problem Qwen2.5-Math file behind CurES's numbers).
    Rows that preparation dropped (e.g. Gaokao-2023-EN's two empty golds) count as wrong against this denominator.
    """

    name: str
    hf_id: str
    hf_config: str | None
    hf_split: str
    n_problems: dict[str, int]
    label: str
    sources: dict[str, str] = field(default_factory=dict)

    def source_for(self, suite: str) -> str:
        """The data source (``verl_ext.data.adapters.SOURCES`` name) prepared for ``suite``."""
        return self.sources.get(suite, self.name)


def _bench(
    name: str,
    hf_id: str,
    split: str,
    n: int | dict[str, int],
    label: str,
    config: str | None = None,
    sources: dict[str, str] | None = None,
) -> Benchmark:
    counts = n if isinstance(n, dict) else {"pcl": n, "pcl_math": n, "cures": n}
    return Benchmark(name, hf_id, config, split, counts, label, sources or {})


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        _bench("math500", "HuggingFaceH4/MATH-500", "test", 500, "MATH500"),
        _bench("gsm8k", "openai/gsm8k", "test", 1319, "GSM8K", config="main"),
        _bench("gaokao2023en", "MARIO-Math-Reasoning/Gaokao2023-Math-En", "train", 385, "Gaokao2023EN"),
        _bench("minerva", "math-ai/minervamath", "test", 272, "Minerva"),
        _bench(
            "olympiadbench",
            "Hothan/OlympiadBench",
            "train",
            {"pcl": 674, "cures": 675},
            "OlympiadBench",
            config="OE_TO_maths_en_COMP",
            sources={"cures": "olympiadbench_qwen"},
        ),
        _bench("aime24", "HuggingFaceH4/aime_2024", "train", 30, "AIME24"),
        _bench("aime25", "math-ai/aime25", "test", 30, "AIME25"),
        _bench("amc23", "math-ai/amc23", "test", 40, "AMC23"),
    )
}


@dataclass(frozen=True)
class Suite:
    """A paper's benchmark list with samples per problem (k) and its default decoding profile."""

    name: str
    samples: dict[str, int]  # benchmark name -> k, in the paper's column order
    default_profile: str

    @property
    def benchmarks(self) -> list[str]:
        return list(self.samples)


SUITES: dict[str, Suite] = {
    # PCL MATH runs: MATH500 only (docs/evaluation.md).
    "pcl_math": Suite("pcl_math", {"math500": 1}, "pcl_math"),
    # PCL DeepScaleR runs / Table 13 column order: MATH500, Olymp., Minerva Avg@4, AMC23/AIME24/AIME25 Avg@32.
    "pcl": Suite(
        "pcl",
        {"math500": 1, "olympiadbench": 1, "minerva": 4, "amc23": 32, "aime24": 32, "aime25": 32},
        "pcl_deepscaler",
    ),
    # CurES Table 1 column order: five Pass@1, then AIME24, AIME25, AMC23 Average@16.
    "cures": Suite(
        "cures",
        {
            "math500": 1,
            "gsm8k": 1,
            "gaokao2023en": 1,
            "minerva": 1,
            "olympiadbench": 1,
            "aime24": 16,
            "aime25": 16,
            "amc23": 16,
        },  # fmt: skip
        "cures_default",
    ),
}


@dataclass(frozen=True)
class DecodingProfile:
    """Sampling settings of one evaluation protocol.

    ``greedy_single_sample``: benchmarks evaluated with one sample decode greedily (CurES ``default``: greedy Pass@1).
    ``strip_final_period``: drop a trailing "." from the last user turn (CurES ``release`` prompts lack it).
    """

    name: str
    temperature: float
    top_p: float
    top_k: int  # -1 = disabled
    max_new_tokens: int
    greedy_single_sample: bool = False
    strip_final_period: bool = False
    source: str = ""

    def for_k(self, k: int) -> dict[str, float | int | bool]:
        """The sampling parameters used for a benchmark evaluated with k samples per problem."""
        greedy = self.greedy_single_sample and k == 1
        return {
            "do_sample": not greedy,
            "temperature": 0.0 if greedy else self.temperature,
            "top_p": 1.0 if greedy else self.top_p,
            "top_k": -1 if greedy else self.top_k,
            "max_new_tokens": self.max_new_tokens,
        }

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


PROFILES: dict[str, DecodingProfile] = {
    p.name: p
    for p in (
        DecodingProfile("pcl_math", 0.6, 0.95, 20, 4096, source="PCL App. C.4: MATH runs, top_k 20, ctx 4096"),
        DecodingProfile("pcl_deepscaler", 0.6, 0.95, -1, 4096, source="PCL App. C.4: DeepScaleR runs, top_k -1"),
        DecodingProfile(
            "cures_default",
            0.6,
            0.95,
            -1,
            3072,
            greedy_single_sample=True,
            source="CurES Table 1, our reading: greedy Pass@1; T 0.6, top-p 0.95 for Average@16; 3072 new tokens",
        ),
        DecodingProfile(
            "cures_release",
            1.0,
            1.0,
            -1,
            3072,
            strip_final_period=True,
            source="CurES released evaluation: T 1.0, top-p 1, sampling everywhere, prompt without the final period",
        ),
    )
}


def suite_sources(suite: str) -> list[tuple[str, str, int]]:
    """``(benchmark, data source, samples per problem)`` for every benchmark of ``suite``: what data preparation
    writes for it (the samples become each row's ``__rollout_n__``)."""
    spec = get_suite(suite)
    return [(name, BENCHMARKS[name].source_for(suite), k) for name, k in spec.samples.items()]


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; choose one of {sorted(SUITES)}")
    return SUITES[name]


def get_profile(name: str) -> DecodingProfile:
    if name not in PROFILES:
        raise ValueError(f"unknown decoding profile {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[name]
