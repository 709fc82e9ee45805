"""Liveness (``/healthz``: the process answers) and readiness (``/readyz``: it can serve).

``/health`` answers like ``/healthz``: vLLM and SGLang serve that path, and load tools
(guidellm, aiperf, vLLM's benchmark) probe it before they start.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from guard.api.deps import RuntimeDep
from guard.errors import GuardError

router = APIRouter()


@router.get("/healthz")
@router.get("/health")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(runtime: RuntimeDep, request: Request) -> JSONResponse:
    """Ready when at least one backend answers its model list (others may be down: fallbacks)."""

    async def probe(name: str) -> tuple[str, str]:
        breaker = runtime.router.breakers.get(name)
        status = breaker.status() if breaker is not None else None
        if status is not None and status.state == "open":  # do not poke a backend being left alone
            return name, f"circuit open after {status.failures} failures; next try in {status.retry_in_s:.0f} s"
        try:
            await asyncio.wait_for(runtime.router.upstreams[name].models(), 3)
            return name, "ok"
        except (GuardError, asyncio.TimeoutError) as e:
            return name, getattr(e, "message", "timeout")

    results = dict(await asyncio.gather(*(probe(n) for n in runtime.router.upstreams)))
    ok = any(v == "ok" for v in results.values()) or not results
    limits = request.app.state.limits.status()
    # a store outage with a fallback still serves; with on_store_error closed it refuses everything
    if limits["state"] != "ok" and limits.get("on_store_error") == "closed":
        ok = False
    body = {"status": "ready" if ok else "unavailable", "backends": results, "limits": limits}
    return JSONResponse(body, status_code=200 if ok else 503)
