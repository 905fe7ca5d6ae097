"""Llama-3.2-3B-Instruct prompts carry the paper's date (PCL Table 3: "Today Date: 26 Jul 2024") wherever they are
rendered: verl's training and validation renderer, the PCL value model's prompt encoder, evaluation and the offline
pilots. The chat template is the real one (tests/workers/fixtures/llama3_2_chat_template.jinja, from the model's
public tokenizer_config.json); the tokenizer's vocabulary is the offline Qwen2.5 BPE (only the template matters)."""

from __future__ import annotations

import datetime
import types
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from verl_ext.data.templates import LLAMA_DATE_STRING, chat_template_kwargs_for, get_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = (Path(__file__).parent / "fixtures" / "llama3_2_chat_template.jinja").read_text()
PAPER_SYSTEM = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
MESSAGES = get_template("llama_instruct").messages("What is 2+3?")


@pytest.fixture(scope="module")
def llama_tokenizer():
    from transformers import AutoTokenizer

    from verl_ext.testing.tiny import build_qwen_tokenizer

    tok = AutoTokenizer.from_pretrained(str(build_qwen_tokenizer()))
    tok.chat_template = TEMPLATE
    return tok


def _llama_rows() -> list[tuple[str, str]]:
    """(experiment, recipe) of every experiment overlay that selects the Llama model group."""
    rows = []
    for path in sorted((ROOT / "configs" / "experiment").rglob("*.yaml")):
        node = OmegaConf.load(path)
        if "override /model: llama3_2_3b_it" in path.read_text() or "llama3_2_3b_it" in str(node.get("defaults", "")):
            rows.append((str(path.relative_to(ROOT / "configs" / "experiment").with_suffix("")), node.run.recipe))
    return rows


LLAMA_ROWS = _llama_rows()


@pytest.fixture(scope="module")
def composed() -> dict[str, object]:
    """Every Llama row composed with Hydra against verl's ppo_trainer (resolved)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    out = {}
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base=None):
        for experiment, recipe in LLAMA_ROWS:
            cfg = compose(config_name=recipe, overrides=[f"experiment={experiment}"])
            out[experiment] = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    GlobalHydra.instance().clear()
    return out


def test_real_template_renders_the_paper_date_only_when_passed(llama_tokenizer) -> None:
    kwargs = dict(get_template("llama_instruct").chat_template_kwargs)
    assert LLAMA_DATE_STRING == "26 Jul 2024" and kwargs == {"date_string": "26 Jul 2024"}
    text = llama_tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False, **kwargs)
    assert PAPER_SYSTEM in text
    assert text.endswith("What is 2+3? Let's think step by step and output the final answer within \\boxed{}."
                         "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")  # fmt: skip
    # the defect: the stock template dates the prompt with the day it is rendered on
    stock = llama_tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    assert f"Today Date: {datetime.date.today().strftime('%d %b %Y')}\n" in stock and PAPER_SYSTEM not in stock
    assert chat_template_kwargs_for(llama_tokenizer) == kwargs
    assert chat_template_kwargs_for(types.SimpleNamespace(chat_template="{{ messages[0]['content'] }}")) == {}


def test_every_llama_row_passes_the_date_to_verl(composed) -> None:
    assert len(LLAMA_ROWS) >= 25  # PCL Tables 1, 13, 4, 5 (Llama rows)
    for experiment, cfg in composed.items():
        assert cfg.run.template == "llama_instruct", experiment
        assert dict(cfg.data.apply_chat_template_kwargs) == {"date_string": "26 Jul 2024"}, experiment


def test_training_validation_and_value_model_render_the_same_dated_prompt(composed, llama_tokenizer) -> None:
    """verl's agent loop (training and validation rollouts) renders through its Continuous Token builder with
    ``data.apply_chat_template_kwargs``; the PCL value model encodes with :class:`PromptEncoder` built by
    ``PCLExtension.attach`` from the same config: both give the paper-dated ids, and the same ids."""
    from verl.utils.tokenizer.continuous_token_wiring import create_continuous_token_builder

    from verl_ext.workers.pcl_extension import PCLExtension

    pcl_rows = [e for e, r in LLAMA_ROWS if r == "pcl"]
    assert pcl_rows, "no Llama PCL row"
    for experiment in pcl_rows:
        cfg = composed[experiment]
        builder = create_continuous_token_builder(
            llama_tokenizer, hf_model_type="llama", chat_template_kwargs=dict(cfg.data.apply_chat_template_kwargs)
        )
        policy_ids = builder.build_initial_tokens([dict(m) for m in MESSAGES])
        assert PAPER_SYSTEM in llama_tokenizer.decode(policy_ids)

        trainer = types.SimpleNamespace(config=cfg, tokenizer=llama_tokenizer, train_dataset=[{"raw_prompt": MESSAGES}])
        ext = PCLExtension()
        ext.attach(trainer, value=None)
        assert ext.encoder(np.array([0]))[0] == list(policy_ids), experiment


def test_evaluation_and_pilots_render_the_dated_prompt(llama_tokenizer) -> None:
    from verl_ext.eval.backends import render_prompt
    from verl_ext.pilot.gradients import prompt_ids

    text = render_prompt(llama_tokenizer, MESSAGES)
    assert PAPER_SYSTEM in text
    assert PAPER_SYSTEM in llama_tokenizer.decode(prompt_ids(llama_tokenizer, MESSAGES))
    # the release profile's final-period stripping keeps the date
    assert PAPER_SYSTEM in render_prompt(llama_tokenizer, MESSAGES, strip_final_period=True)


def test_value_model_refuses_a_llama_template_without_the_date(llama_tokenizer) -> None:
    from verl_ext.workers.prompts import PromptEncoder

    with pytest.raises(ValueError, match="data.apply_chat_template_kwargs.date_string"):
        PromptEncoder(llama_tokenizer, [{"raw_prompt": MESSAGES}], chat_template_kwargs={})
