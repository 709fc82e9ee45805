"""What the pipeline needs from a backend, and nothing more.

``complete`` returns the parsed JSON body; ``stream`` yields parsed SSE events (dicts) and ends
at ``[DONE]``; ``stream_batches`` yields the same events grouped by arrival, each with the bytes
the backend sent, for the relay that forwards them untouched. Implementations translate every
transport or provider exception into ``guard.errors`` here, at the seam, so nothing above knows
about aiohttp or litellm. Tests swap an ``Upstream`` for a fake, or run the relay against the
fake backend on loopback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(slots=True)
class Batch:
    """Stream events that arrived together (one socket read), so they can leave together.

    Each event comes with its ``data:`` payload as the backend sent it, or None where the
    upstream never sees the wire (litellm hands over objects).
    """

    events: list[tuple[bytes | None, dict[str, Any]]]
    done: bool = False  # the backend's [DONE] came with these events: nothing follows


class Upstream(Protocol):
    name: str

    async def complete(self, endpoint: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        """``endpoint`` is ``chat/completions`` or ``completions``."""
        ...

    def stream(self, endpoint: str, body: dict[str, Any], headers: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        ...

    def stream_batches(self, endpoint: str, body: dict[str, Any], headers: dict[str, str]) -> AsyncIterator[Batch]:
        ...

    async def models(self) -> list[dict[str, Any]]: ...

    async def close(self) -> None: ...
