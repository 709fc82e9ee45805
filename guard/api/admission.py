"""The per-key limits as a FastAPI dependency on the completion routes.

A dependency with ``yield`` exits after the response has been sent, so a stream holds its
concurrency slot until its last byte, and a client that disconnects mid-stream frees it too
(the exit runs when the request task is cancelled).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Depends, Request

from guard.api.deps import CallerDep
from guard.limits import Lease
from guard.calls import Caller
from guard.settings import ApiKey


async def lease_for(request: Request, caller: Caller) -> Lease | None:
    """Take the key's rate and concurrency slot (raises ``RateLimited``); None when unlimited."""
    # The state's dict, not ``getattr(request.state, ...)``: a missing attribute costs an
    # exception, on every request of a server without key limits.
    key: ApiKey | None = request.scope.get("state", {}).get("api_key")
    if key is None or (key.rate_per_minute is None and key.max_concurrent is None):
        return None
    return await request.app.state.limits.admit(caller.key_id, key.rate_per_minute, key.max_concurrent)


async def admit(request: Request, caller: CallerDep) -> AsyncIterator[None]:
    lease = await lease_for(request, caller)
    try:
        yield
    finally:
        if lease is not None:
            lease.release()


Admitted = Depends(admit)
