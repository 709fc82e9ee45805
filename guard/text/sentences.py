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
    "ltd", "jr", "sr", "st", "u.s", "u.k", "al",
}
_END_RE = re.compile(r"[。！？；]+[”」』）)\"']*|[.!?]+[\"')\]”’]*(?=\s|$)|\n\s*\n")


@dataclass(frozen=True, slots=True)
class Span:
    text: str
    start: int
    end: int


def _is_abbreviation(text: str, dot_index: int) -> bool:
    m = re.search(r"([A-Za-z][A-Za-z.]*)$", text[:dot_index])
    if not m:
        return False
    word = m.group(1).lower().rstrip(".")
    return word in _ABBREV or (len(word) == 1 and word.isalpha())


def sentence_ends(text: str) -> list[int]:
    """Offsets just past each sentence end found in ``text``."""
    ends: list[int] = []
    for m in _END_RE.finditer(text):
        token = m.group(0)
        if token[0] == "." and _is_abbreviation(text, m.start()):
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
