"""Evidence text prepared once for lexical comparison.

Each retrieved passage is tokenised once and cached by passage id, so grading several
sentences against the same passages, or the same passages again on the next request, costs
set look-ups only. Word stems and CJK bigrams (needed to rerank every candidate) are built
eagerly; the rest (word pairs, trigrams, quantities, sentences, number contexts, dates) only
for the passages kept as evidence, on first use.

Normalisation is folded in here, on the evidence side, so claims meet it by set look-ups:
dotted abbreviations add their undotted stem ("U.S." -> "us"), and a parenthesised lifespan
("(January 8, 1935 – August 16, 1977)") adds the words it implies (born, died, 出生, 去世).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from guard.text import cjk, tokens
from guard.text.normalize import Aliases, DateMention, find_dates, fold_abbreviations, lifespans
from guard.text.numbers import Quantity, extract_quantities
from guard.text.sentences import split_sentences

_LIFESPAN_STEMS = frozenset({"born", "birth", "died", "death", "dead"})
_LIFESPAN_CJK = frozenset({"出生", "生于", "去世", "逝世", "死于", "离世"})


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence of a passage with the units the contradiction and binding checks use."""

    text: str
    lower: str
    stems: frozenset[str]
    cjk2: frozenset[str]
    follows: str  # the next sentence's opening, lower-cased (a "No." after a question)


class EvidenceText:
    __slots__ = (
        "text", "lower", "stems", "cjk2", "_words", "_pairs", "_cjk3", "_quantities",
        "_sentences", "_dates", "_parts", "_slots", "_aliases",
    )

    def __init__(self, text: str) -> None:
        self.text = text
        self.lower = text.lower()
        self._words = tokens.words(text)
        stems = {tokens.stem(w) for w in self._words}
        bigrams = set(cjk.char_ngrams(text, 2))
        if "." in text:
            folded = fold_abbreviations(text)
            if folded != text:
                stems.update(tokens.stem(w) for w in tokens.words(folded))
        if ("(" in text or "（" in text) and lifespans(text):
            stems |= _LIFESPAN_STEMS
            bigrams |= _LIFESPAN_CJK
        self.stems: frozenset[str] = frozenset(stems)
        self.cjk2: frozenset[str] = frozenset(bigrams)
        self._pairs: frozenset[tuple[str, str]] | None = None
        self._cjk3: frozenset[str] | None = None
        self._quantities: tuple[Quantity, ...] | None = None
        self._sentences: tuple[Sentence, ...] | None = None
        self._dates: tuple[DateMention, ...] | None = None
        self._parts: tuple[EvidenceText, ...] | None = None
        self._slots: tuple | None = None  # number slots, built by guard.checks.grounding.binding
        self._aliases: tuple[int, frozenset[int]] | None = None  # (table id, alias groups named here)

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

    @property
    def dates(self) -> tuple[DateMention, ...]:
        if self._dates is None:
            self._dates = (
                tuple(d for p in self._parts for d in p.dates) if self._parts is not None else tuple(find_dates(self.text))
            )
        return self._dates

    @property
    def sentences(self) -> tuple[Sentence, ...]:
        """The passage's sentences, each with its stems and bigrams (for the best-span search)."""
        if self._sentences is None:
            if self._parts is not None:
                self._sentences = tuple(s for p in self._parts for s in p.sentences)
            else:
                spans = split_sentences(self.text) or []
                made = []
                for i, span in enumerate(spans):
                    nxt = spans[i + 1].text[:12].lower() if i + 1 < len(spans) else ""
                    made.append(
                        Sentence(
                            span.text,
                            span.text.lower(),
                            frozenset(tokens.content_stems(span.text)),
                            frozenset(cjk.char_ngrams(span.text, 2)),
                            nxt,
                        )
                    )
                self._sentences = tuple(made)
        return self._sentences

    def alias_groups(self, aliases: Aliases) -> frozenset[int]:
        """The alias groups (``guard.text.normalize.Aliases``) this evidence names, cached per table."""
        if self._aliases is None or self._aliases[0] != id(aliases):
            if self._parts is not None:
                found = frozenset().union(*(p.alias_groups(aliases) for p in self._parts))
            else:
                found = frozenset(aliases.groups_in(self.text))
            self._aliases = (id(aliases), found)
        return self._aliases[1]

    @property
    def parts(self) -> tuple["EvidenceText", ...]:
        """The passages this evidence was merged from (itself when it is one passage)."""
        return self._parts if self._parts is not None else (self,)

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
        merged._sentences = None
        merged._dates = None
        merged._parts = tuple(parts)
        merged._slots = None
        merged._aliases = None
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
