"""Plain value types shared by the index and the checks that read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True, slots=True)
class Passage:
    id: str
    text: str
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hit:
    passage: Passage
    score: float  # relevance by the channel that found it; higher is better, at most 1.0
    similarity: float | None = None  # cosine of query and passage, when the query was embedded


# How the index is searched: keywords only (no model call), embeddings only, or both fused.
SearchMode = Literal["lexical", "semantic", "hybrid"]


class Retriever(Protocol):
    """What the checks need from an index. ``version`` is recorded with every check result."""

    version: str

    def search(self, query: str, k: int, mode: SearchMode = ...) -> list[Hit]: ...

    def search_many(self, queries: list[str], k: int, mode: SearchMode = ...) -> list[list[Hit]]: ...
