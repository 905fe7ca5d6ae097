"""ChatML chat templates equivalent to Qwen2.5-Instruct's (text-only: no tool calls).

Rendering of ``[{"role": "user", "content": "Hi"}]`` with ``add_generation_prompt=True``::

    <|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n
    <|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n

Like Qwen2.5-Instruct, a default system turn is inserted when the conversation does not start with one; the
``default_system=None`` variant omits it (used by the small domain tokenizer so prompts stay short).
"""

from __future__ import annotations

QWEN25_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

_BODY = """
{%- for message in messages -%}
    {%- if message['role'] not in ['system', 'user', 'assistant'] -%}
        {{- raise_exception("chat template: role must be system, user or assistant, got " + message['role']) -}}
    {%- endif -%}
    {%- if message['role'] == 'system' and not loop.first -%}
        {{- raise_exception("chat template: a system message is only allowed first") -}}
    {%- endif -%}
    {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|im_start|>assistant\\n' -}}
{%- endif -%}
"""


def chatml_template(default_system: str | None = QWEN25_DEFAULT_SYSTEM) -> str:
    """The jinja ChatML template; ``default_system`` is inserted when ``messages[0]`` is not a system turn."""
    if default_system is None:
        return _BODY.strip()
    if "'" in default_system or "\\" in default_system:
        raise ValueError("default_system must not contain quotes or backslashes (it is embedded in a jinja string)")
    head = (
        "{%- if messages | length == 0 or messages[0]['role'] != 'system' -%}\n"
        f"    {{{{- '<|im_start|>system\\n{default_system}<|im_end|>\\n' -}}}}\n"
        "{%- endif -%}\n"
    )
    return head + _BODY.strip()
