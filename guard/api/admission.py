"""The per-key limits as a FastAPI dependency on the completion routes.

A dependency with ``yield`` exits after the response has been sent, so a stream holds its
concurrency slot until its last byte, and a client that disconnects mid-stream frees it too
(the exit runs when the request task is cancelled).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Depends, Request

from guard.api.deps import CallerDep
from guard.limits import KeyLimiter
from guard.settings import ApiKey


async def admit(request: Request, caller: CallerDep) -> AsyncIterator[None]:
    key: ApiKey | None = getattr(request.state, "api_key", None)
    if key is None or (key.rate_per_minute is None and key.max_concurrent is None):
        yield
        return
    limiter: KeyLimiter = request.app.state.limiter
    lease = limiter.admit(caller.key_id, key.rate_per_minute, key.max_concurrent)
    try:
        yield
    finally:
        lease.release()


Admitted = Depends(admit)
