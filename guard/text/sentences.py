"""Sentence splitting for English and Chinese, with character offsets.

Offsets matter: checks report where an unsupported sentence sits in the answer, and the
streaming ``sentence`` mode releases text exactly up to a sentence end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at CJK terminators (always), or at . ! ? followed by space/end,
# unless the period belongs to a number (3.5) or a common abbreviation (e.g., Dr.).
_CJK_END = "。！？；!?"
_ABBREV = {
    "e.g", "i.e", "etc", "vs", "dr", "mr", "mrs", "ms", "prof", "fig", "no", "approx", "inc",
    "ltd", "jr", "sr", "st", "u.s", "u.k", "al", "ca",
}
# Abbreviations that also end sentences ("... moved to the U.S. It is ..."): their period ends
# one when the next word is one a sentence starts with, never a name ("U.S. Army", "Inc. Ltd").
_MAY_END = {"u.s", "u.k", "etc", "inc", "ltd", "jr", "sr", "ca"}  # "ca": circa, and California
_STARTS = re.compile(
    r"\s+(?:It|Its|The|This|That|These|Those|There|They|Their|He|His|She|Her|We|Our|I|You|A|An|In|On|"
    r"At|But|And|However|So|Then|After|Before|When|If)\b"
)
# What starts a list item, a heading or a quote in markdown ("- ", "2. ", "3、", "(4)", "## ", "> ").
LIST_MARKER = r"(?:[-*•+]\s|\d{1,3}[.)]\s|\d{1,3}、|[一二三四五六七八九十]{1,3}、|[(（]\d{1,3}[)）]|#{1,6}\s|>\s)"
# A line break ends a sentence before such a marker, around a markdown table row, and after a
# heading or a line ending in a colon: list items, rows, headings and lead-ins have no final
# period. Other single line breaks (wrapped prose) do not.
_LIST_ITEM = re.compile(rf"[ \t]*{LIST_MARKER}")
_HEADING = re.compile(r"[ \t]*#{1,6}\s")
_END_RE = re.compile(r"[。！？；]+[”」』）)\"']*(?:【\d{1,3}】)?|[.!?]+[\"')\]”’]*(?:\[\^?\d{1,3}\])*(?=\s|$)|\n\s*\n|\n")
_ITEM_NUMBER = re.compile(r"[ \t]*\d{1,3}")


@dataclass(frozen=True, slots=True)
class Span:
    text: str
    start: int
    end: int


_TRAILING_WORD = re.compile(r"([A-Za-z][A-Za-z.]*)$")
_WORDISH = re.compile(r"[A-Za-z.]*")


def _is_abbreviation(text: str, dot_index: int) -> bool:
    # Look at the last few characters only: searching the whole prefix for an end-anchored
    # pattern made splitting quadratic in the length of a paragraph. Same result: when a run
    # of letters and dots crosses the window's edge, search the whole prefix as before.
    start = max(0, dot_index - 32)
    if start > 0 and _WORDISH.fullmatch(text, start, dot_index):
        start = 0
    m = _TRAILING_WORD.search(text, start, dot_index)
    if not m:
        return False
    word = m.group(1).lower().rstrip(".")
    if word in _MAY_END and _STARTS.match(text, dot_index + 1):
        return False
    return word in _ABBREV or (len(word) == 1 and word.isalpha())


def _numbers_item(text: str, dot_index: int) -> bool:
    """The period of a list item's number ("2. It activates ..."), alone at the start of its line."""
    line_start = text.rfind("\n", 0, dot_index) + 1
    return bool(_ITEM_NUMBER.fullmatch(text, line_start, dot_index))


def _breaks_line(text: str, newline: int) -> bool:
    line_start = text.rfind("\n", 0, newline) + 1
    line = text[line_start:newline].strip()
    ends_lead_in = line.endswith((":", "："))
    table_row = line.startswith("|") or text[newline + 1 : newline + 40].lstrip(" \t").startswith("|")
    return bool(_LIST_ITEM.match(text, newline + 1) or _HEADING.match(text, line_start) or ends_lead_in or table_row)


def sentence_ends(text: str) -> list[int]:
    """Offsets just past each sentence end found in ``text``."""
    ends: list[int] = []
    for m in _END_RE.finditer(text):
        token = m.group(0)
        if token[0] == "." and (_is_abbreviation(text, m.start()) or _numbers_item(text, m.start())):
            continue
        if token == "\n" and not _breaks_line(text, m.start()):
            continue
        ends.append(m.end())
    return ends


def split_sentences(text: str) -> list[Span]:
    """Split into sentences; whitespace-only pieces are dropped, offsets index ``text``."""
    spans: list[Span] = []
    start = 0
    for end in sentence_ends(text) + [len(text)]:
        if end <= start:
            continue
        piece = text[start:end]
        stripped = piece.strip()
        if stripped:
            lead = len(piece) - len(piece.lstrip())
            s = start + lead
            spans.append(Span(stripped, s, s + len(stripped)))
        start = end
    return spans


def split_claims(text: str, min_chars: int = 0) -> list[Span]:
    """Sentences, with pieces shorter than ``min_chars`` joined to a neighbour.

    A fragment such as "Yes." or "1959." still asserts something, so it is merged into the
    next sentence (or the previous one at the end) rather than dropped unchecked.
    """
    spans = split_sentences(text)
    merged: list[Span] = []
    pending: Span | None = None
    for span in spans:
        if pending is not None:
            span = Span(text[pending.start : span.end], pending.start, span.end)
            pending = None
        if len(span.text) < min_chars:
            pending = span
            continue
        merged.append(span)
    if pending is not None:
        if merged:
            last = merged.pop()
            pending = Span(text[last.start : pending.end], last.start, pending.end)
        merged.append(pending)
    return merged
