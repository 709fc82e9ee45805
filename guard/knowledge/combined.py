"""Retrievers made of other retrievers: several sources searched as one, and a filtered view.

The grounding check takes one ``Retriever``; a request may need its own documents, its
tenant's index and the corrections that tenant may see. ``MergedRetriever`` searches each and
merges the hits (deduplicated by passage id, best score first), so the check sees candidates
from every source and its rerank keeps those that share most words with the sentence.
``FilteredRetriever`` hides passages a caller must not see (another tenant's corrections).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from guard.knowledge.types import Hit, Passage, Retriever, SearchMode


def _merge(rows: Sequence[list[Hit]]) -> list[Hit]:
    best: dict[str, Hit] = {}
    for row in rows:
        for hit in row:
            held = best.get(hit.passage.id)
            if held is None or hit.score > held.score:
                best[hit.passage.id] = hit
    return sorted(best.values(), key=lambda h: h.score, reverse=True)


class MergedRetriever:
    """Every part searched for each query; each part contributes up to ``k`` hits, so a small
    source (a request's documents) is never crowded out by a large one (the index)."""

    def __init__(self, parts: Sequence[Retriever]) -> None:
        if not parts:
            raise ValueError("a merged retriever needs at least one part")
        self.parts = list(parts)
        self.version = "+".join(p.version for p in self.parts)

    def search(self, query: str, k: int, mode: SearchMode = "semantic") -> list[Hit]:
        return self.search_many([query], k, mode)[0]

    def search_many(self, queries: list[str], k: int, mode: SearchMode = "semantic") -> list[list[Hit]]:
        per_part = [p.search_many(queries, k, mode) for p in self.parts]
        return [_merge([rows[i] for rows in per_part]) for i in range(len(queries))]

    def get(self, passage_id: str) -> Passage | None:
        for p in self.parts:
            found = getattr(p, "get", lambda _: None)(passage_id)
            if found is not None:
                return found
        return None


class FilteredRetriever:
    """A view of ``inner`` without the passages ``keep`` refuses. Searches ask for extra hits so
    filtering seldom leaves fewer than ``k``."""

    def __init__(self, inner: Retriever, keep: Callable[[Passage], bool], label: str = "filtered") -> None:
        self.inner = inner
        self.keep = keep
        self.version = inner.version
        self.label = label

    def search(self, query: str, k: int, mode: SearchMode = "semantic") -> list[Hit]:
        return self.search_many([query], k, mode)[0]

    def search_many(self, queries: list[str], k: int, mode: SearchMode = "semantic") -> list[list[Hit]]:
        rows = self.inner.search_many(queries, k * 2, mode)
        return [[h for h in row if self.keep(h.passage)][:k] for row in rows]

    def get(self, passage_id: str) -> Passage | None:
        found = getattr(self.inner, "get", lambda _: None)(passage_id)
        return found if found is not None and self.keep(found) else None


def combine(parts: Sequence[Retriever]) -> Retriever:
    """One retriever for the parts: the part itself when there is only one."""
    return parts[0] if len(parts) == 1 else MergedRetriever(parts)
