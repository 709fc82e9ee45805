"""``create_review_app``: the reviewer web app, mounted by the proxy at /review or served alone.

Answers and prompts shown here are untrusted (they come from models and API callers), so the
app is built to display them safely: Jinja2 autoescaping everywhere, a strict
Content-Security-Policy (no inline script, no third-party anything), CSRF tokens on every form,
and HttpOnly SameSite=Lax session cookies.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from guard.review.housekeeping import housekeeping_loop
from guard.review.store import ReviewStore
from guard.review.webhook import WebhookSender
from guard.settings import ReviewConfig
from guard.review.sessions import ReviewerSessions
from review_queue.auth import Accounts, Sessions, session_secret
from review_queue import decisions
from review_queue.corrections_page import router as corrections_router
from review_queue.pages import router
from review_queue.throttle import LoginThrottle
from review_queue.web import CsrfFailed, FormTooLarge, KnowledgeSink, LoginRequired, PageNotFound, ReviewWeb, get_page

log = structlog.get_logger()

_SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


def create_review_app(
    store: ReviewStore,
    review_config: ReviewConfig,
    knowledge_sink: KnowledgeSink | None = None,
    *,
    webhooks: WebhookSender | None = None,
    housekeeping_s: float | None = None,
    exposed: bool = False,
) -> FastAPI:
    """Build the app. ``webhooks`` sends each decision to the item's webhook (None: no webhooks).

    ``housekeeping_s`` runs the expiry sweep in this app's lifespan; leave it None when mounted
    (a mounted app's lifespan does not run: the proxy runs the sweep itself). ``exposed``: the
    server listens beyond loopback (the log-in page then warns about sample passwords).
    """
    accounts = Accounts(review_config.reviewers)
    sample = accounts.sample_password_users()
    if sample:
        log.warning(
            "review.sample_password",
            users=sample,
            message="SAMPLE PASSWORD: these reviewers still log in with 'change-me'. "
            "Set real hashes with `guard review hash-password` before anyone else can reach this server.",
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        task = asyncio.create_task(housekeeping_loop(store, webhooks, housekeeping_s)) if housekeeping_s else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            if webhooks is not None:
                await webhooks.aclose()

    app = FastAPI(title="guard review", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.review_web = ReviewWeb(
        store=store,
        config=review_config,
        accounts=accounts,
        sessions=Sessions(session_secret(review_config), max_age_s=int(review_config.session_max_age_s)),
        sink=knowledge_sink,
        sender=webhooks,
        server_sessions=ReviewerSessions(
            store, idle_s=review_config.idle_timeout_s, max_age_s=review_config.session_max_age_s
        ),
        throttle=LoginThrottle(
            free_per_user=review_config.login_attempts_per_user,
            free_per_address=review_config.login_attempts_per_address,
        ),
        sample_password_users=sample,
        exposed=exposed,
    )
    app.include_router(router)
    app.include_router(decisions.router)
    app.include_router(corrections_router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    _install_handlers(app)

    @app.middleware("http")
    async def security_headers(request: Request, call_next) -> Response:
        response = await call_next(request)
        response.headers.update(_SECURITY_HEADERS)
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers["cache-control"] = "no-store"
        return response

    return app


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, e: LoginRequired) -> Response:
        return (await get_page(request)).redirect("/login")

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, e: CsrfFailed) -> Response:
        return (await get_page(request)).render("error.html", status=403, message_key="error_csrf")

    @app.exception_handler(FormTooLarge)
    async def _too_large(request: Request, e: FormTooLarge) -> Response:
        return (await get_page(request)).render("error.html", status=413, message_key="error_too_large")

    @app.exception_handler(PageNotFound)
    async def _not_found(request: Request, e: PageNotFound) -> Response:
        return (await get_page(request)).render("error.html", status=404, message_key="error_not_found")
