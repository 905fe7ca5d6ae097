"""The value model's input: exactly the policy's prompt token ids (docs/pcl.md §3).

verl's agent loop renders each dataset row's ``raw_prompt`` messages with the tokenizer's chat template,
``add_generation_prompt=True`` and ``data.apply_chat_template_kwargs``; a ``model.custom_chat_template`` replaces
the tokenizer's template (``experimental/agent_loop/agent_loop.py:242, 540``). :class:`PromptEncoder` does the
same, per dataset position, and caches the ids (prompts never change during a run). A Llama 3.x template without a
``date_string`` in those kwargs is refused: the policy's prompts would carry the day they are rendered on (the
paper's carry "26 Jul 2024", PCL Table 3), and the cached ids would go stale across a resume on another day.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from verl_ext.data.templates import LLAMA_DATE_STRING

logger = logging.getLogger(__name__)

__all__ = ["PromptEncoder"]


class PromptEncoder:
    """Token ids of training prompts by dataset position (= ``extra_info.index``).

    Args:
        tokenizer: the policy's HF tokenizer.
        dataset: indexable rows with a ``raw_prompt`` list of chat messages (verl's ``RLHFDataset``).
        chat_template_kwargs: ``data.apply_chat_template_kwargs``.
        chat_template: ``actor_rollout_ref.model.custom_chat_template`` (``None`` = the tokenizer's own).
    """

    def __init__(
        self,
        tokenizer: Any,
        dataset: Any,
        chat_template_kwargs: Mapping[str, Any] | None = None,
        chat_template: str | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.dataset = dataset
        self.kwargs = dict(chat_template_kwargs or {})
        self.chat_template = chat_template
        self._cache: dict[int, list[int]] = {}
        template = chat_template if chat_template is not None else getattr(tokenizer, "chat_template", None)
        if isinstance(template, str) and "date_string" in template and "date_string" not in self.kwargs:
            raise ValueError(
                "the chat template (Llama 3.x) dates every prompt with the current day unless "
                "data.apply_chat_template_kwargs.date_string is set; the paper's prompts use "
                f"'{LLAMA_DATE_STRING}' (configs/model/llama3_2_3b_it.yaml sets it; add "
                f"+data.apply_chat_template_kwargs.date_string='{LLAMA_DATE_STRING}')"
            )

    def encode_messages(self, messages: Sequence[Mapping[str, Any]]) -> list[int]:
        """Chat-templated ids of one conversation with the generation prompt appended."""
        extra = {"chat_template": self.chat_template} if self.chat_template is not None else {}
        ids = self.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, tokenize=True, return_dict=False, **extra, **self.kwargs
        )
        if isinstance(ids, Mapping):  # some tokenizers ignore return_dict=False
            ids = ids["input_ids"]
        return [int(t) for t in ids]

    def __call__(self, indices: np.ndarray) -> list[list[int]]:
        """Prompt ids for dataset positions ``indices`` (shape ``(k,)``), in that order."""
        out = []
        for i in np.asarray(indices, dtype=np.int64).tolist():
            if i not in self._cache:
                if not 0 <= i < len(self.dataset):
                    raise IndexError(f"prompt index {i} outside the training set of {len(self.dataset)} rows")
                row = self.dataset[i]
                if "raw_prompt" not in row:
                    raise KeyError(
                        f"training row {i} has no 'raw_prompt' messages; keep data.return_raw_chat=true (verl's "
                        "default) so the value model sees the policy's prompt"
                    )
                self._cache[i] = self.encode_messages(row["raw_prompt"])
            out.append(self._cache[i])
        return out
