"""What the pipeline needs from a backend, and nothing more.

Two calls: ``complete`` returns the parsed JSON body; ``stream`` yields parsed SSE events (dicts)
and ends at ``[DONE]``. Implementations translate every transport or provider exception into
``guard.errors`` here, at the seam, so nothing above knows about aiohttp or litellm. Tests swap
an ``Upstream`` for a fake, or run the relay against the fake backend on loopback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol


class Upstream(Protocol):
    name: str

    async def complete(self, endpoint: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        """``endpoint`` is ``chat/completions`` or ``completions``."""
        ...

    def stream(self, endpoint: str, body: dict[str, Any], headers: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        ...

    async def models(self) -> list[dict[str, Any]]: ...

    async def close(self) -> None: ...
