"""Evidence text prepared once for lexical comparison.

Each retrieved passage is tokenised once and cached by passage id, so grading several
sentences against the same passages, or the same passages again on the next request, costs
set look-ups only. Word stems and CJK bigrams (needed to rerank every candidate) are built
eagerly; the rest (word pairs, trigrams, quantities) only for the passages kept as evidence.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from guard.text import cjk, tokens
from guard.text.numbers import Quantity, extract_quantities


class EvidenceText:
    __slots__ = ("text", "lower", "stems", "cjk2", "_words", "_pairs", "_cjk3", "_quantities")

    def __init__(self, text: str) -> None:
        self.text = text
        self.lower = text.lower()
        self._words = tokens.words(text)
        self.stems: frozenset[str] = frozenset(tokens.stem(w) for w in self._words)
        self.cjk2: frozenset[str] = frozenset(cjk.char_ngrams(text, 2))
        self._pairs: frozenset[tuple[str, str]] | None = None
        self._cjk3: frozenset[str] | None = None
        self._quantities: tuple[Quantity, ...] | None = None

    @classmethod
    def of(cls, text: str) -> "EvidenceText":
        return cls(text)

    @property
    def word_pairs(self) -> frozenset[tuple[str, str]]:
        if self._pairs is None:
            self._pairs = frozenset(zip(self._words, self._words[1:]))
        return self._pairs

    @property
    def cjk3(self) -> frozenset[str]:
        if self._cjk3 is None:
            self._cjk3 = frozenset(cjk.char_ngrams(self.text, 3))
        return self._cjk3

    @property
    def quantities(self) -> tuple[Quantity, ...]:
        if self._quantities is None:
            self._quantities = tuple(extract_quantities(self.text))
        return self._quantities

    @classmethod
    def merge(cls, parts: list["EvidenceText"]) -> "EvidenceText":
        """The union of several passages, compared as one body of evidence."""
        if not parts:
            return cls("")
        if len(parts) == 1:
            return parts[0]
        merged = cls.__new__(cls)
        merged.text = "\n".join(p.text for p in parts)
        merged.lower = merged.text.lower()
        merged._words = []
        merged.stems = frozenset().union(*(p.stems for p in parts))
        merged.cjk2 = frozenset().union(*(p.cjk2 for p in parts))
        merged._pairs = frozenset().union(*(p.word_pairs for p in parts))
        merged._cjk3 = frozenset().union(*(p.cjk3 for p in parts))
        merged._quantities = tuple(q for p in parts for q in p.quantities)
        return merged


class EvidenceCache:
    """Thread-safe LRU of ``EvidenceText`` keyed by passage id (plus text, so edits invalidate)."""

    def __init__(self, size: int = 2048) -> None:  # about 18 KB per passage view
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
        made = EvidenceText(text)
        with self._lock:
            self._items[key] = made
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return made

    def __len__(self) -> int:
        return len(self._items)
