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

    def search(self, query: str, k: int) -> list[Hit]:
        return self.search_many([query], k)[0]

    def search_many(self, queries: list[str], k: int) -> list[list[Hit]]:
        self.calls += 1
        return [
            sorted(
                (Hit(p, fuzz.token_set_ratio(q, p.text) / 100) for p in self.passages),
                key=lambda h: h.score,
                reverse=True,
            )[:k]
            for q in queries
        ]
