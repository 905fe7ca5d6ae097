"""Prompt templates per model family, selected by name from data configs (``qwen3_base``, ``llama_instruct``,
``qwen_math``).

A template turns a problem into chat messages (what goes into the parquet ``prompt`` column) and says which chat
template renders them (``chat_template=None``: the model's stock template; otherwise a string to set as
``actor_rollout_ref.model.custom_chat_template``).

- ``qwen3_base`` (PCL Table 3; docs/pcl.md §2): one user message ``{problem} Let's think step by step and output
  the final answer within \\boxed{}.`` rendered as the plain text, no special tokens (``PASSTHROUGH_CHAT_TEMPLATE``).
- ``llama_instruct`` (PCL Table 3; docs/pcl.md §2): the same user message, Llama-3.2-Instruct's stock template (its
  default system block), rendered with ``date_string="26 Jul 2024"`` (PCL Table 3's system block; without it the stock
  template renders the current date): ``chat_template_kwargs``, to pass wherever the prompt is rendered
  (``data.apply_chat_template_kwargs`` in training; :func:`chat_template_kwargs_for` for renderers that only see a
  tokenizer).
- ``qwen_math`` (CurES training setup; docs/data.md): system ``Please reason step by step, and put your final answer
  within \\boxed{}.`` + the same user message, the model's (Qwen ChatML) stock template. ``drop_final_period=True``
  removes the final period of the user message, as in the CurES release scripts (the ``cures_release`` profile of
  docs/evaluation.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

INSTRUCTION = "Let's think step by step and output the final answer within \\boxed{}."
QWEN_MATH_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."

# PCL Table 3: "Cutting Knowledge Date: December 2023 Today Date: 26 Jul 2024" in every Llama-3.2-Instruct prompt.
LLAMA_DATE_STRING = "26 Jul 2024"

# Renders the messages' contents back to back, nothing else: no role markers, no BOS/EOS, no generation prompt.
PASSTHROUGH_CHAT_TEMPLATE = "{%- for message in messages -%}{{- message['content'] -}}{%- endfor -%}"


@dataclass(frozen=True)
class PromptTemplate:
    """How one model family is prompted: optional system text, the user instruction, the chat template."""

    name: str
    system: str | None
    chat_template: str | None
    # extra arguments of ``apply_chat_template`` (verl: ``data.apply_chat_template_kwargs``)
    chat_template_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def user_text(self, problem: str, drop_final_period: bool = False) -> str:
        """``{problem} {INSTRUCTION}``, optionally without the instruction's final period."""
        text = f"{problem.strip()} {INSTRUCTION}"
        return text[:-1] if drop_final_period else text

    def messages(self, problem: str, drop_final_period: bool = False) -> list[dict[str, str]]:
        """Chat messages ``[{role, content}, ...]`` for one problem."""
        if not isinstance(problem, str) or not problem.strip():
            raise ValueError(f"template {self.name!r}: the problem must be a non-empty string, got {problem!r}")
        out = [{"role": "system", "content": self.system}] if self.system else []
        out.append({"role": "user", "content": self.user_text(problem, drop_final_period)})
        return out


TEMPLATES: dict[str, PromptTemplate] = {
    "qwen3_base": PromptTemplate("qwen3_base", system=None, chat_template=PASSTHROUGH_CHAT_TEMPLATE),
    "llama_instruct": PromptTemplate(
        "llama_instruct", system=None, chat_template=None, chat_template_kwargs={"date_string": LLAMA_DATE_STRING}
    ),
    "qwen_math": PromptTemplate("qwen_math", system=QWEN_MATH_SYSTEM, chat_template=None),
}


def get_template(name: str) -> PromptTemplate:
    """The template called ``name``; the error lists the valid names."""
    if name not in TEMPLATES:
        raise ValueError(f"unknown prompt template {name!r}; valid names: {sorted(TEMPLATES)}")
    return TEMPLATES[name]


def chat_template_kwargs_for(tokenizer: Any) -> dict[str, Any]:
    """``apply_chat_template`` arguments for a renderer that knows only the tokenizer (evaluation, offline pilots).

    A chat template that reads ``date_string`` (Llama 3.x) gets the paper's ``LLAMA_DATE_STRING``, so the prompt
    never carries the day it is rendered on; any other template gets none.
    """
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, str) and "date_string" in template:
        return dict(TEMPLATES["llama_instruct"].chat_template_kwargs)
    return {}
