"""What a chat model writes, reduced to the paraphrase: pure text functions, no model.

An instruct model asked to rewrite a query often wraps its answer: "Sure! Here is the
rewritten query:", "Paraphrase: ...", quotes, markdown bold, a bullet, an explanation on
the following lines. `clean_output` keeps the first line that still says something once such
a lead-in is removed, strips the quotes around it, and says whether that line was complete
(followed by a line break, or the model stopped by itself) or cut off by the token limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A lead-in ending in a colon: "Sure, here is the rewritten query:", "Rewritten query:",
# "The paraphrased sentence is:", "Paraphrase:", "Answer -".
_LEAD_WORDS = r"(?:sure|certainly|of course|okay|ok|absolutely|here(?:'s|\s+is|\s+are)|below\s+is)"
_TEXT_WORDS = r"(?:query|queries|question|sentence|text|version|phrase|paraphrase|rewrite|search(?:\s+query)?)"
_QUALIFIERS = r"(?:rewritten|re-written|paraphrased|rephrased|reworded|revised|new|alternative|alternate|different|original|improved|modified)"
LEAD_IN = re.compile(
    rf"""^(?:
        {_LEAD_WORDS}\b[^:\n]*:                                   # Sure, here is ...:
      | (?:the\s+|a\s+|an\s+|my\s+|your\s+)?{_QUALIFIERS}\s+{_TEXT_WORDS}\b[^:\n]{{0,40}}:   # The original sentence was:
      | (?:paraphrase|paraphrased|rewrite|rewritten|rephrase|rephrased|reworded|answer|output|response|result|query|question)\s*(?:\d+\s*)?[:\-\u2013\u2014]
    )\s*""",
    re.IGNORECASE | re.VERBOSE,
)
# A line that is only chatter with nothing after it: "Sure!", "Certainly, here it is."
CHATTER = re.compile(rf"^{_LEAD_WORDS}\b[^:]*$", re.IGNORECASE)
MARKUP = re.compile(r"^(?:[-*\u2022>]\s+|\d+[.)]\s+|#+\s+)")  # a bullet, "1. ", a quote mark, a heading
QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "`": "`", "\u00ab": "\u00bb"}


@dataclass(frozen=True)
class Cleaned:
    text: str  # the paraphrase, "" when the output held none
    complete: bool  # the line was finished, not cut off at the token limit


def strip_quotes(text: str) -> str:
    """`"a b"` -> `a b`, also `"a b".` (a period after the closing quote); quotes inside stay."""
    text = text.strip()
    for _ in range(3):  # nested: "'a b'", **"a b"**
        before = text
        if len(text) >= 4 and text[:2] == text[-2:] == "**":
            text = text[2:-2].strip()
        if len(text) >= 2 and text[0] in QUOTES:
            close = QUOTES[text[0]]
            inner = text[1:]
            for tail in ("", ".", "?", "!"):
                if inner.endswith(close + tail) and close not in inner[: len(inner) - len(close + tail)]:
                    text = (inner[: len(inner) - len(close + tail)] + tail).strip()
                    break
        if text == before:
            break
    return text


def strip_lead_in(line: str) -> str:
    """One line without markup and lead-ins ("**Rewritten query:** x" -> "x")."""
    text = MARKUP.sub("", line.strip())
    for _ in range(3):  # "Sure! Paraphrase: ..." has two
        text = text.replace("**", "") if text.startswith("**") else text
        match = LEAD_IN.match(text)
        if not match:
            break
        text = text[match.end():].strip()
    if CHATTER.match(text):
        return ""
    return strip_quotes(text)


def clean_output(raw: str, finished: bool = True) -> Cleaned:
    """The first line of `raw` that says something once lead-ins, markup and surrounding
    quotes are removed. `finished`: the model stopped by itself, so its last line is complete."""
    lines = raw.replace("\r\n", "\n").split("\n")
    for i, line in enumerate(lines):
        text = strip_lead_in(line)
        if text:
            return Cleaned(text, complete=finished or i < len(lines) - 1)
    return Cleaned("", complete=finished)


def first_line_done(raw: str) -> bool:
    """Whether `raw` already holds a complete line with a paraphrase in it: generation can stop."""
    lines = raw.replace("\r\n", "\n").split("\n")
    return any(strip_lead_in(line) for line in lines[:-1])
