"""Find the last ``\\boxed{...}`` (or ``\\fbox{...}``) of a text, with nested braces.

Used both for the reward (the model's final answer) and for data preparation (MATH's gold answer is the last boxed
expression of its reference solution). A linear scan, no regex backtracking, so adversarial inputs stay cheap.
"""

from __future__ import annotations

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
