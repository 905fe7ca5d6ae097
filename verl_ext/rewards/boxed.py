"""Find ``\\boxed{...}`` (or ``\\fbox{...}``) groups in a text, with nested braces.

``last_boxed_content`` serves data preparation (MATH's gold answer is the last boxed expression of its reference
solution); ``boxed_spans`` serves the reward (where the final answer group starts, see ``verl_ext.rewards.answer``).
Linear scans, no regex backtracking, so adversarial inputs stay cheap.
"""

from __future__ import annotations

from typing import NamedTuple

_OPENERS = ("\\boxed", "\\fbox")


def _last_opener(text: str) -> tuple[int, int] | None:
    """Position and length of the last ``\\boxed``/``\\fbox`` command, or None."""
    best: tuple[int, int] | None = None
    for opener in _OPENERS:
        pos = text.rfind(opener)
        # skip look-alikes such as "\boxedfoo": the command must end at a brace, a space or the text's end
        while pos >= 0:
            end = pos + len(opener)
            if end >= len(text) or text[end] in "{ ":
                break
            pos = text.rfind(opener, 0, pos)
        if pos >= 0 and (best is None or pos > best[0]):
            best = (pos, len(opener))
    return best


def _braced_content(text: str, open_pos: int) -> str | None:
    """Content of the brace group opening at ``text[open_pos] == '{'``; None if it never closes."""
    depth = 0
    i = open_pos
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2  # "\{" and "\}" are literal braces, not grouping
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[open_pos + 1 : i]
        i += 1
    return None


def last_boxed_content(text: str) -> str | None:
    """Return what is inside the last ``\\boxed{...}`` of ``text`` (nested braces kept), or None.

    ``\\boxed 5`` (the brace-less form) returns ``"5"``; an unclosed ``\\boxed{`` returns None.

    Examples:
        >>> last_boxed_content(r"so \\boxed{1} or rather \\boxed{\\frac{1}{2}}")
        '\\\\frac{1}{2}'
    """
    found = _last_opener(text)
    if found is None:
        return None
    pos, length = found
    rest = pos + length
    if rest < len(text) and text[rest] == " ":
        # "\boxed 5": the argument is the next token (up to a space or "$")
        token = text[rest + 1 :].lstrip().split("$")[0].split()
        return token[0] if token else None
    if rest >= len(text) or text[rest] != "{":
        return None
    return _braced_content(text, rest)


class BoxSpan(NamedTuple):
    """One top-level ``\\boxed{...}``: ``text[start:end]`` is the whole command, ``text[content_start:end - 1]`` its
    content (``end`` is one past the closing brace)."""

    start: int
    content_start: int
    end: int


def boxed_spans(text: str) -> list[BoxSpan]:
    """Every top-level, closed ``\\boxed{...}``/``\\fbox{...}`` of ``text``, left to right (boxes nested in a box are
    part of it). Scanning stops at an unclosed box, so the cost stays linear in ``len(text)``.

    Examples:
        >>> [text[s.start:s.end] for text in [r"a \\boxed{1} and \\boxed{\\boxed{2}}"] for s in boxed_spans(text)]
        ['\\\\boxed{1}', '\\\\boxed{\\\\boxed{2}}']
    """
    spans: list[BoxSpan] = []
    # next occurrence of each opener, re-searched only once the scan has passed it (keeps the scan linear)
    nxt = {opener: text.find(opener + "{") for opener in _OPENERS}
    pos = 0
    while True:
        for opener, at in nxt.items():
            if 0 <= at < pos:
                nxt[opener] = text.find(opener + "{", pos)
        live = [(at, opener) for opener, at in nxt.items() if at >= 0]
        if not live:
            break
        start, opener = min(live)
        brace = start + len(opener)
        content = _braced_content(text, brace)
        if content is None:
            break
        end = brace + len(content) + 2
        spans.append(BoxSpan(start, brace + 1, end))
        pos = end
    return spans
