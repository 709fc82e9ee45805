"""Per-request context for the reviewer pages: who is logged in, which language, how to answer.

Handlers get a ``Page`` from a FastAPI dependency and answer through ``page.render`` or
``page.redirect``, which also write the session and language cookies; no handler touches
cookies itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from guard.review.sessions import ReviewerSessions
from guard.review.store import ReviewStore
from guard.review.webhook import WebhookSender
from guard.settings import Reviewer, ReviewConfig
from review_queue import i18n, render
from review_queue.auth import COOKIE, Accounts, Session, Sessions, csrf_ok, new_session, tenant_scope
from review_queue.throttle import LoginThrottle

KnowledgeSink = Callable[[str, dict[str, Any]], Awaitable[Any] | Any]
_TEMPLATES = Path(__file__).parent / "templates"


class LoginRequired(Exception):
    """Raised by handlers that need a reviewer; answered with a redirect to the log-in page."""


class CsrfFailed(Exception):
    """A form came without this session's token: answered 403, nothing is done."""


class PageNotFound(Exception):
    """Unknown item, or one outside the reviewer's tenants (the same answer, so ids cannot be probed)."""


class FormTooLarge(Exception):
    """A posted form over ``ReviewWeb.max_form_bytes``: answered 413 before it is parsed."""


MAX_FORM_BYTES = 2 * 1024 * 1024


@dataclass
class ReviewWeb:
    """What every page needs, built once per app."""

    store: ReviewStore
    config: ReviewConfig
    accounts: Accounts
    sessions: Sessions
    sink: KnowledgeSink | None = None
    sender: WebhookSender | None = None
    templates: Jinja2Templates = field(default_factory=lambda: Jinja2Templates(env=_environment()))
    server_sessions: ReviewerSessions | None = None
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    max_form_bytes: int = MAX_FORM_BYTES
    sample_password_users: list[str] = field(default_factory=list)
    exposed: bool = False  # listening beyond loopback (the log-in page then warns of sample passwords)


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(age=render.age, since=render.since, until=render.until, clock=render.clock)
    return env


@dataclass
class Page:
    request: Request
    web: ReviewWeb
    session: Session
    lang: str
    save_session: bool = False
    save_lang: bool = False

    @property
    def reviewer(self) -> Reviewer | None:
        return self.web.accounts.get(self.session.user)

    def require_reviewer(self) -> Reviewer:
        reviewer = self.reviewer
        if reviewer is None:
            raise LoginRequired()
        return reviewer

    @property
    def scope(self) -> list[str] | None:
        return tenant_scope(self.require_reviewer())

    def href(self, path: str) -> str:
        """An absolute path inside this app, wherever it is mounted (/review when inside the proxy)."""
        return self.request.scope.get("root_path", "").rstrip("/") + path

    async def start_session(self, user: str | None) -> None:
        """A new session (and CSRF token); for a user, a server-side one, and the old one ends."""
        sessions = self.web.server_sessions
        if sessions is not None and self.session.sid:
            await sessions.end(self.session.sid)
        sid = await sessions.start(user) if sessions is not None and user else None
        self.session = new_session(user, sid)
        self.save_session = True

    async def form(self) -> FormData:
        """The posted form, once its CSRF token is checked.

        A post without a session cookie cannot carry this session's token, so it is refused
        before its body is read; a body over ``max_form_bytes`` is refused as it arrives.
        """
        if self.save_session:  # no valid cookie came with the post
            raise CsrfFailed()
        self.request._body = await _read_capped(self.request, self.web.max_form_bytes)
        form = await self.request.form(max_files=0, max_fields=100)
        token = form.get("csrf")
        if not csrf_ok(self.session, token if isinstance(token, str) else None):
            raise CsrfFailed()
        return form

    @property
    def client_address(self) -> str:
        client = self.request.client
        return client.host if client else "?"

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        t = i18n.translator(self.lang)
        context.update(
            request=self.request, t=t, lang=self.lang, href=self.href, csrf=self.session.csrf,
            reviewer=self.reviewer, languages=i18n.LANGUAGES,
            label=lambda prefix, value: i18n.label(t, prefix, value),
            readable=lambda detail: render.readable(
                detail, lambda key: i18n.label(t, "detail_", key),
                lambda key, value: i18n.label(t, f"{key}_", value) if key in ("kind", "status") else value,
            ),
        )
        response = self.web.templates.TemplateResponse(self.request, template, context, status_code=status)
        return self.finish(response)

    def redirect(self, path: str) -> Response:
        return self.finish(RedirectResponse(self.href(path), status_code=303))

    def finish(self, response: Response) -> Response:
        configured = self.web.config.cookie_secure
        secure = self.request.url.scheme == "https" if configured is None else configured
        path = self.href("/") or "/"
        if self.save_session:
            response.set_cookie(
                COOKIE, self.web.sessions.dump(self.session), max_age=self.web.sessions.max_age_s,
                path=path, httponly=True, samesite="lax", secure=secure,
            )
        if self.save_lang:
            response.set_cookie(i18n.COOKIE, self.lang, max_age=365 * 86400, path=path, httponly=True,
                                samesite="lax", secure=secure)
        return response


async def _read_capped(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise FormTooLarge()
    chunks, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise FormTooLarge()
        chunks.append(part)
    return b"".join(chunks)


async def _valid(web: ReviewWeb, session: Session | None) -> Session | None:
    """The cookie's session, with its user only while the server-side session lives."""
    if session is None or session.user is None:
        return session
    if web.server_sessions is None:
        return session
    user = await web.server_sessions.user(session.sid) if session.sid else None
    if user != session.user:
        return None  # logged out, idle too long, or a cookie from before server-side sessions
    return session


async def get_page(request: Request) -> Page:
    """The FastAPI dependency every reviewer page starts from."""
    web: ReviewWeb = request.app.state.review_web
    cached = request.scope.get("state", {}).get("review_session", False)
    if cached is False:
        cached = await _valid(web, web.sessions.load(request.cookies.get(COOKIE)))
        request.state.review_session = cached
    session = cached
    fresh = session is None
    query_lang = request.query_params.get("lang")
    lang = i18n.pick_language(query_lang, request.cookies.get(i18n.COOKIE), web.config.language)
    return Page(
        request=request,
        web=web,
        session=session or new_session(),
        lang=lang,
        save_session=fresh,
        save_lang=query_lang in i18n.LANGUAGES,
    )
