"""What math-verify reads: the text of a gold answer and of a response, and how both are parsed and compared.

math-verify (``math_verify.parse`` / ``math_verify.verify``) does the extraction and the comparison; this module only
decides which text it sees and with which of its extraction configs, and works around what it cannot parse. The
rules, each a class of answers the reward misjudged when it boxed the gold and read only the response's last box:

1. **Response: the final answer is the last boxed group, or a "final answer" statement after it.** Without a box,
   math-verify reads the whole response as its own test suite does (``LatexExtractionConfig(boxed_match_priority=0)``
   and ``ExprExtractionConfig()``: its anchors "final answer", "answer:", then the last LaTeX or number). With boxes:
   if the text after the last box says "final answer", that statement is parsed alone with math-verify's anchored
   patterns only (``try_extract_without_anchor=False``), so "…\\boxed{255} … The final answer is $10,455$" is scored
   on 10,455; a statement that *contains* the box ("The final answer is \\boxed{12}. This is 3 more …") is not after
   it and does not count. Otherwise math-verify reads the *answer region* with the same configs as without a box:
   boxes first, and several boxes forming one answer (``\\boxed{1} and \\boxed{2} and \\boxed{3}``) become one set
   through math-verify's own grouping (``latex2sympy2_extended``'s ``extract_boxed_content``: boxes under 10
   characters apart, or under 70 with "and"/"or"/","/";" between them). The answer region, for speed: from the line
   before the final group of boxes (boxes under ``GROUP_GAP`` characters apart; at most ``REGION_MARGIN`` characters
   before it) to the end.
2. **Gold: parsed as what it is, never boxed.** A gold with math delimiters (``$``, ``\\(``, ``\\[``, ``\\boxed``) is
   parsed as it stands with the same two configs. A plain-text number (``1,22``, ``1 000``, ``1000,99``,
   ``7,425,000``, ``28%``, ``28 percent``) is parsed by ``ExprExtractionConfig`` alone, which knows thousands
   separators, decimal commas and percent words; boxing it made ``1 000`` the product 1·0 and ``1000,99`` the set
   {1000, 99}. A lone comma between short digit groups is
   ambiguous (``3,5``: MATH writes answer lists this way; math-verify reads 3.5): both readings are kept, either
   matches. Any other plain gold is LaTeX without delimiters (MATH, DeepScaleR): it is parsed as ``$gold$``.
3. **Percent.** The LaTeX parser under math-verify (latex2sympy2_extended 1.11.0 with the ANTLR 4.9.3 runtime this
   project pins) raises on a percent inside math (``\\boxed{25 \\%}``, ``$28\\%$``), so those answers became
   unparsable strings. A percent sign that ends a box or a math environment is moved just after it, where
   math-verify's own percent suffix (``$28$ %``) turns the value into a percentage; other percent signs inside a box
   are dropped. Comparison follows math-verify (x % equals x against an integer and x/100 against a decimal) and, in
   addition, a percent sign is optional on either side like a unit: gold ``20`` matches ``\\boxed{20 \\%}``, gold
   ``12.5\\%`` matches ``\\boxed{12.5}``.
4. **Thousands separators** inside a box (``\\boxed{1 000}``, ``\\boxed{1\\,000}``, ``\\boxed{10{,}000}``) are
   removed when the whole box is one number in groups of three, so LaTeX does not read a product.

Everything here runs inside a reward worker process (``verl_ext.rewards.verify_worker``), whose parent enforces the
per-item timeout; math-verify's own signal-based timeouts are off.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from verl_ext.rewards.boxed import boxed_spans

# Boxes closer than this (characters between them) may be one answer; math-verify's own limit is 70.
GROUP_GAP = 70
# How far before the final group of boxes the answer region may start (room for a "$" or "\[" opener).
REGION_MARGIN = 200

_PERCENT_WORDS = r"(?:percent|percentage|pct)"
# a percent marker at the end of a piece of LaTeX: \%, %, \text{\%}, \text{ percent}, " percent"
# (searched in the last _PERCENT_WINDOW characters only, and no pattern starts with \s*: linear on any input)
_TRAILING_PERCENT = re.compile(
    r"(?:\\%|%|\\(?:text|mbox|mathrm)\{\s*(?:\\%|%|" + _PERCENT_WORDS + r")\s*\}|\b" + _PERCENT_WORDS + r")$"
)
_PERCENT_WINDOW = 48
_ANY_PERCENT = re.compile(r"\\%|%|\\(?:text|mbox|mathrm)\{\s*(?:\\%|%|" + _PERCENT_WORDS + r")\s*\}")
# "\%" right before the closer of a math environment: moved after the closer, math-verify's percent suffix (a bare
# "%" is left alone outside boxes: before a "$" it is as likely a text percent before an opening "$")
_ENV_PERCENT = re.compile(r"\\%\s*(\$\$|(?<!\\)\$|\\\)|\\\])")
# one number in groups of three: 1 000, 1\,000, 1{,}000, 1,\!000, 1~000 (decimals allowed)
_THOUSANDS_SEP = r"(?:\s|\\,|\\ |\\;|\\!|~|\{,\}|,\\!|,)"
_THOUSANDS = re.compile(r"^\s*-?\d{1,3}(?:" + _THOUSANDS_SEP + r"\d{3})+(?:\.\d+)?\s*$")
_SEP_ONLY = re.compile(_THOUSANDS_SEP)
# a plain-text number as math-verify's ExprExtractionConfig reads it, with an optional percent
_PLAIN_NUMBER = re.compile(
    r"^\s*-?(?:\d{1,3}(?:[ ,]\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?|\.\d+)\s*(?:\\?%|" + _PERCENT_WORDS + r")?\s*$"
)
# a decimal comma that may also be a list separator: "3,5", "-2,1", "1,22" (not "1,000": thousands)
_AMBIGUOUS_COMMA = re.compile(r"^\s*-?\d+,\d{1,2}\s*$")
# math delimiters that make a gold "delimited" (an escaped dollar, \\$, is a currency sign, not a delimiter)
_DELIMITED = re.compile(r"(?<!\\)\$|\\\(|\\\[|\\boxed|\\fbox")


def _fix_box(content: str) -> tuple[str, bool]:
    """Box content with thousands separators and percent signs removed; whether it ended with a percent sign."""
    body = content.rstrip()
    window = body[-_PERCENT_WINDOW:]
    trailing = _TRAILING_PERCENT.search(window)
    if trailing is not None:
        content = body[: len(body) - len(window) + trailing.start()].rstrip()
    if "%" in content or "percent" in content or "pct" in content:
        content = _ANY_PERCENT.sub("", content)
    if _THOUSANDS.match(content):
        content = _SEP_ONLY.sub("", content)
    return content, trailing is not None


def rewrite_for_math_verify(text: str) -> str:
    """Rewrite what math-verify cannot parse (module docstring, rules 3-4); everything else is left untouched.

    ``\\boxed{25 \\%}`` → ``\\boxed{25}\\%``, ``$28\\%$`` → ``$28$\\%``, ``$\\boxed{25\\%}$`` → ``$\\boxed{25}$\\%``,
    ``\\boxed{1\\,000}`` → ``\\boxed{1000}``, ``\\fbox{7}`` → ``\\boxed{7}``.
    """
    spans = boxed_spans(text)
    if spans:
        pieces: list[str] = []
        pos = 0
        for span in spans:
            content, percent = _fix_box(text[span.content_start : span.end - 1])
            # math-verify's boxed pattern knows only \boxed: an \fbox is read as one
            pieces.append(text[pos : span.start] + "\\boxed{" + content + "}" + ("\\%" if percent else ""))
            pos = span.end
        pieces.append(text[pos:])
        text = "".join(pieces)
    if "%" in text:
        text = _ENV_PERCENT.sub(lambda m: m.group(1) + "\\%", text)
    return text


_FINAL_ANSWER = re.compile(r"(?i:final answer)")


def final_statement(response: str) -> str | None:
    """The text from the last "final answer" after the response's last box, or None (module docstring, rule 1)."""
    spans = boxed_spans(response)
    tail = response[spans[-1].end :] if spans else ""
    starts = [match.start() for match in _FINAL_ANSWER.finditer(tail)]
    return tail[starts[-1] :] if starts else None


def answer_region(response: str) -> str:
    """The part of a response math-verify needs (module docstring, rule 1): the whole text if it has no box."""
    spans = boxed_spans(response)
    if not spans:
        return response
    first = len(spans) - 1
    while first > 0 and spans[first].start - spans[first - 1].end < GROUP_GAP:
        first -= 1
    start = spans[first].start
    low = max(0, start - REGION_MARGIN)
    if low > 0:
        # begin at a line start (else a word start) so no math environment is cut open
        newline = response.find("\n", low, start)
        space = response.find(" ", low, start)
        low = newline + 1 if newline >= 0 else (space + 1 if space >= 0 else start)
    return response[low:]


def _configs() -> dict[str, Any]:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    return {
        # math-verify's own test-suite configuration: boxes rank with "final answer is X. I hope" (priority 0)
        "full": [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()],
        # a "final answer" statement after the last box: anchored patterns only, boxes off
        "anchored": [
            LatexExtractionConfig(try_extract_without_anchor=False, boxed_match_priority=-1),
            ExprExtractionConfig(try_extract_without_anchor=False),
        ],
        "expr": [ExprExtractionConfig()],
        "latex": [LatexExtractionConfig(boxed_match_priority=0)],
    }


_CONFIGS: dict[str, Any] = {}


def _parse(text: str, kind: str) -> list[Any]:
    from math_verify import parse

    if not _CONFIGS:
        _CONFIGS.update(_configs())
    return parse(text, extraction_config=_CONFIGS[kind], parsing_timeout=None)


def _with_percent_optional(parsed: list[Any]) -> list[Any]:
    """Add, for every percentage x % math-verify parsed, the bare value x (rule 3: the percent sign is optional)."""
    from math_verify.grader import get_pct_val

    extra = [value for item in parsed if not isinstance(item, str) and (value := get_pct_val(item)) is not None]
    return parsed + extra


@lru_cache(maxsize=4096)
def _parse_gold_cached(gold: str) -> tuple[Any, ...]:
    text = gold.strip()
    if _DELIMITED.search(text):
        return tuple(_parse(rewrite_for_math_verify(text), "full"))
    if _PLAIN_NUMBER.match(text):
        parsed = _parse(text.replace("\\%", "%"), "expr")
        if _AMBIGUOUS_COMMA.match(text):
            parsed = parsed + _parse("$" + text + "$", "latex")
        return tuple(parsed)
    opener, closer = ("$$", "$$") if "\n" in text else ("$", "$")
    return tuple(_parse(rewrite_for_math_verify(opener + text + closer), "latex"))


def parse_gold(ground_truth: str) -> list[Any]:
    """math-verify's parse of a gold answer (rules 2-3), cached: the n responses of a prompt share their gold."""
    return _with_percent_optional(list(_parse_gold_cached(str(ground_truth))))


def parse_response(response: str) -> list[Any]:
    """math-verify's parse of a response's final answer (rules 1, 3, 4)."""
    statement = final_statement(response)
    if statement is not None:
        parsed = _parse(rewrite_for_math_verify(statement), "anchored")
        if parsed:
            return _with_percent_optional(parsed)
    return _with_percent_optional(_parse(rewrite_for_math_verify(answer_region(response)), "full"))


def answers_match(response: str, ground_truth: str) -> bool:
    """True iff math-verify finds the response's final answer equal to the gold (``math_verify.verify`` defaults,
    its timeout off: call only where the caller bounds the time)."""
    from math_verify import verify

    gold = parse_gold(ground_truth)
    if not gold:
        return False
    pred = parse_response(response)
    if not pred:
        return False
    return bool(verify(gold, pred, timeout_seconds=None))
