"""Plain value types shared by the index and the checks that read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Passage:
    id: str
    text: str
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hit:
    passage: Passage
    score: float  # cosine similarity in [-1, 1]


class Retriever(Protocol):
    """What the checks need from an index. ``version`` is recorded with every check result."""

    version: str

    def search(self, query: str, k: int) -> list[Hit]: ...

    def search_many(self, queries: list[str], k: int) -> list[list[Hit]]: ...
