"""A tiny in-memory retriever for check tests that do not need the embedding model.

It ranks passages by rapidfuzz token-set similarity, which is enough to hand the grounding
check the right evidence for short test corpora.
"""

from __future__ import annotations

from rapidfuzz import fuzz

from guard.knowledge.types import Hit, Passage


class MemoryRetriever:
    version = "memory-1"

    def __init__(self, texts: list[str], source: str = "test.md") -> None:
        self.passages = [Passage(f"p{i}", t, source) for i, t in enumerate(texts)]
        self.calls = 0
        self.modes: list[str] = []  # the search mode of every call, in order

    def search(self, query: str, k: int, mode: str = "semantic") -> list[Hit]:
        return self.search_many([query], k, mode)[0]

    def search_many(self, queries: list[str], k: int, mode: str = "semantic") -> list[list[Hit]]:
        """Fuzzy similarity stands in for both channels; only "embedded" modes report it as a cosine."""
        self.calls += 1
        self.modes.append(mode)
        embedded = mode != "lexical"
        return [
            sorted(
                (Hit(p, s, s if embedded else None) for p in self.passages for s in [fuzz.token_set_ratio(q, p.text) / 100]),
                key=lambda h: h.score,
                reverse=True,
            )[:k]
            for q in queries
        ]
