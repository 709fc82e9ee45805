"""``create_app(settings)``: the whole HTTP surface, built fresh for each server or test."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI

from guard import __version__
from guard.api import completions, errors, health, metrics, models
from guard.api.deps import key_table
from guard.api.fastpath import GuardApp
from guard.backend.base import Upstream
from guard.corrections import CorrectionSync
from guard.limits import KeyLimiter
from guard.shared_limits import build_limits
from guard.pipeline import Pipeline
from guard.runtime import Runtime
from guard.settings import Settings

log = structlog.get_logger()


def create_app(settings: Settings, *, upstreams: dict[str, Upstream] | None = None, warm: bool = False) -> FastAPI:
    runtime = Runtime(settings, upstreams=upstreams)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.auth.mode == "none":
            log.warning(
                "auth_disabled",
                message="NO AUTHENTICATION: anyone who can reach this port can use every model. For local use only.",
            )
        runtime.start()
        app.state.limits.start()
        if warm:
            await asyncio.to_thread(runtime.warm)
        await _start_review(app, runtime)
        syncing = _sync_corrections(runtime)
        log.info("guard_started", models=[m.name for m in settings.models], policies=sorted(runtime.policies))
        try:
            yield
        finally:
            if syncing is not None:
                syncing.cancel()
            await app.state.limits.close()
            await runtime.close()

    app = GuardApp(title="guard", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    if settings.server.cors is not None:
        app.enable_cors(settings.server.cors)
    app.state.runtime = runtime
    app.state.pipeline = Pipeline(runtime)
    app.state.keys = key_table(settings.auth.keys)
    app.state.limiter = KeyLimiter()
    app.state.limits = build_limits(
        settings.limits, settings.server.workers, on_state=lambda up: runtime.metrics.limits_store_up.set(1 if up else 0)
    )
    errors.install(app)
    if settings.server.docs:
        from guard.api.docs import install_docs

        install_docs(app)
    app.include_router(completions.router)
    app.include_router(models.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    _include_optional(app, runtime)
    return app


def _include_optional(app: FastAPI, runtime: Runtime) -> None:
    """Routers of areas that may not be configured: the review queue and metrics."""
    try:
        from guard.api import feedback, reviews
    except ImportError:  # the review area is not installed in this build
        return
    app.include_router(reviews.router)
    app.include_router(feedback.router)


def _sync_corrections(runtime: Runtime) -> asyncio.Task | None:
    """Corrections reviewed on any replica reach this one's index (guard.corrections)."""
    if runtime.review is None:
        return None
    sync = CorrectionSync(runtime.review.store, runtime.corrections, runtime.settings.knowledge.corrections_sync_s)
    runtime.correction_sync = sync
    watchers = getattr(runtime.review.store, "watchers", None)  # stores that push changes (PostgreSQL)
    if watchers is not None:
        watchers.append(sync.wake)
    return asyncio.create_task(sync.run())


async def _start_review(app: FastAPI, runtime: Runtime) -> Any:
    try:
        from guard.holding import start_review
    except ModuleNotFoundError:
        return None
    return await start_review(app, runtime)
