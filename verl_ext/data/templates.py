"""Prompt templates per model family, selected by name from data configs (``qwen3_base``, ``llama_instruct``,
``qwen_math``).

A template turns a problem into chat messages (what goes into the parquet ``prompt`` column) and says which chat
template renders them (``chat_template=None``: the model's stock template; otherwise a string to set as
``actor_rollout_ref.model.custom_chat_template``).

- ``qwen3_base`` (PCL §2): one user message ``{problem} Let's think step by step and output the final answer within
  \\boxed{}.`` rendered as the plain text, no special tokens (``PASSTHROUGH_CHAT_TEMPLATE``).
- ``llama_instruct`` (PCL §2): the same user message, Llama-3.2-Instruct's stock template (its default system block).
- ``qwen_math`` (CurES §7): system ``Please reason step by step, and put your final answer within \\boxed{}.`` + the
  same user message, the model's (Qwen ChatML) stock template. ``drop_final_period=True`` removes the final period
  of the user message, as in the CurES release scripts (CurES §5, §8 "release" profile).
"""

from __future__ import annotations

from dataclasses import dataclass

INSTRUCTION = "Let's think step by step and output the final answer within \\boxed{}."
QWEN_MATH_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."

# Renders the messages' contents back to back, nothing else: no role markers, no BOS/EOS, no generation prompt.
PASSTHROUGH_CHAT_TEMPLATE = "{%- for message in messages -%}{{- message['content'] -}}{%- endfor -%}"


@dataclass(frozen=True)
class PromptTemplate:
    """How one model family is prompted: optional system text, the user instruction, the chat template."""

    name: str
    system: str | None
    chat_template: str | None

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
    "llama_instruct": PromptTemplate("llama_instruct", system=None, chat_template=None),
    "qwen_math": PromptTemplate("qwen_math", system=QWEN_MATH_SYSTEM, chat_template=None),
}


def get_template(name: str) -> PromptTemplate:
    """The template called ``name``; the error lists the valid names."""
    if name not in TEMPLATES:
        raise ValueError(f"unknown prompt template {name!r}; valid names: {sorted(TEMPLATES)}")
    return TEMPLATES[name]
