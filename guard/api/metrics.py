"""``GET /metrics``: Prometheus text format from this app's own registry.

Gauges that describe state held elsewhere (the review queue in the database, the circuit
breakers) are read when Prometheus scrapes, not kept up to date on every change. The route
has no authentication, like the serving engines' own: expose it on the internal network only.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter
from starlette.responses import Response

from guard.api.deps import RuntimeDep
from guard.metrics import CONTENT_TYPE
from guard.runtime import Runtime

router = APIRouter()
log = structlog.get_logger()


@router.get("/metrics", include_in_schema=False)
async def metrics(runtime: RuntimeDep) -> Response:
    await _read_queue(runtime)
    runtime.metrics.set_breakers({name: b.status() for name, b in runtime.router.breakers.items()})
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE)


async def _read_queue(runtime: Runtime) -> None:
    if runtime.review is None:
        return
    try:
        stats = await runtime.review.store.stats(days=1)
    except Exception as e:  # noqa: BLE001 - a database hiccup must not break the scrape
        log.warning("metrics_queue_unavailable", error=f"{type(e).__name__}: {e}")
        return
    runtime.metrics.set_queue(stats.depth, stats.oldest_pending_age_s)
    runtime.metrics.set_review(stats)
