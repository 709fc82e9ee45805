"""Evidence text prepared once for lexical comparison.

Each retrieved passage is tokenised a single time (word stems, word bigrams, CJK bigrams and
trigrams, quantities) and cached by passage id, so grading several sentences against the same
passages, or the same passages again on the next request, costs set look-ups only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from guard.text import cjk, tokens
from guard.text.numbers import Quantity, extract_quantities


@dataclass(frozen=True, slots=True)
class EvidenceText:
    text: str
    lower: str
    stems: frozenset[str]
    word_pairs: frozenset[tuple[str, str]]
    cjk2: frozenset[str]
    cjk3: frozenset[str]
    quantities: tuple[Quantity, ...] = field(default=())

    @classmethod
    def of(cls, text: str) -> "EvidenceText":
        ws = tokens.words(text)
        return cls(
            text=text,
            lower=text.lower(),
            stems=frozenset(tokens.stem(w) for w in ws),
            word_pairs=frozenset(zip(ws, ws[1:])),
            cjk2=frozenset(cjk.char_ngrams(text, 2)),
            cjk3=frozenset(cjk.char_ngrams(text, 3)),
            quantities=tuple(extract_quantities(text)),
        )

    @classmethod
    def merge(cls, parts: list["EvidenceText"]) -> "EvidenceText":
        """The union of several passages, compared as one body of evidence."""
        if len(parts) == 1:
            return parts[0]
        text = "\n".join(p.text for p in parts)
        return cls(
            text=text,
            lower=text.lower(),
            stems=frozenset().union(*(p.stems for p in parts)),
            word_pairs=frozenset().union(*(p.word_pairs for p in parts)),
            cjk2=frozenset().union(*(p.cjk2 for p in parts)),
            cjk3=frozenset().union(*(p.cjk3 for p in parts)),
            quantities=tuple(q for p in parts for q in p.quantities),
        )


class EvidenceCache:
    """Thread-safe LRU of ``EvidenceText`` keyed by passage id (plus text, so edits invalidate)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, int], EvidenceText] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, passage_id: str, text: str) -> EvidenceText:
        key = (passage_id, hash(text))
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        made = EvidenceText.of(text)
        with self._lock:
            self._items[key] = made
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return made
