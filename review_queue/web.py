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

from guard.review.store import ReviewStore
from guard.review.webhook import WebhookSender
from guard.settings import Reviewer, ReviewConfig
from review_queue import i18n, render
from review_queue.auth import COOKIE, Accounts, Session, Sessions, csrf_ok, new_session, tenant_scope

KnowledgeSink = Callable[[str, dict[str, Any]], Awaitable[Any] | Any]
_TEMPLATES = Path(__file__).parent / "templates"


class LoginRequired(Exception):
    """Raised by handlers that need a reviewer; answered with a redirect to the log-in page."""


class CsrfFailed(Exception):
    """A form came without this session's token: answered 403, nothing is done."""


class PageNotFound(Exception):
    """Unknown item, or one outside the reviewer's tenants (the same answer, so ids cannot be probed)."""


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

    def start_session(self, user: str | None) -> None:
        self.session = new_session(user)
        self.save_session = True

    async def form(self) -> FormData:
        """The posted form, once its CSRF token is checked."""
        form = await self.request.form()
        token = form.get("csrf")
        if not csrf_ok(self.session, token if isinstance(token, str) else None):
            raise CsrfFailed()
        return form

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
        secure = self.request.url.scheme == "https"
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


def get_page(request: Request) -> Page:
    """The FastAPI dependency every reviewer page starts from."""
    web: ReviewWeb = request.app.state.review_web
    session = web.sessions.load(request.cookies.get(COOKIE))
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
