"""The reviewer pages: log-in, queue, audit log, stats (one item and its decision: decisions.py).

Every state change is a POST carrying the session's CSRF token, is limited to the reviewer's
tenants, and is recorded in the store's audit trail.
"""

from __future__ import annotations

import asyncio
import math
import time
from urllib.parse import urlencode
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends
from starlette.responses import JSONResponse, Response

from review_queue.auth import LoginBusy
from guard.review.models import KINDS, STATUSES, ItemFilter
from review_queue.groups import group_rows
from review_queue.web import Page, get_page

log = structlog.get_logger()
router = APIRouter()
PageDep = Annotated[Page, Depends(get_page)]

PAGE_SIZE = 50
STATS_DAYS = 14
NOTICES = {"decided", "decided_group", "claimed", "released", "lost", "knowledge_failed", "invalid"}
STATUS_CHOICES = ("open",) + STATUSES + ("all",)


# ---------------------------------------------------------------------- log-in


def _sample_warning(page: Page) -> bool:
    """Warn on the log-in page while a sample password works on a server others can reach."""
    return bool(page.web.sample_password_users) and page.web.exposed


@router.get("/login", name="login")
async def login_form(page: PageDep) -> Response:
    return page.render("login.html", sample_warning=_sample_warning(page))


@router.post("/login")
async def login(page: PageDep) -> Response:
    """One bcrypt check per attempt, off the event loop; past a few failures per address or
    user name, attempts wait (429 with retry-after) and cost no hashing at all."""
    form = await page.form()
    username = str(form.get("username", ""))[:100]
    throttle, address = page.web.throttle, page.client_address
    wait = throttle.retry_after(address, username)
    if wait > 0:
        return await _too_many(page, username, wait)
    try:
        reviewer = await page.web.accounts.authenticate(username, str(form.get("password", ""))[:1024])
    except LoginBusy:
        return await _too_many(page, username, 1.0)
    if reviewer is None:
        throttle.failed(address, username)
        await page.web.store.add_event(None, username or "?", "login_failed", {"address": address})
        return page.render("login.html", status=401, error=True, username=username, sample_warning=_sample_warning(page))
    throttle.succeeded(address, username)
    await page.start_session(reviewer.username)
    await page.web.store.add_event(None, reviewer.username, "login", {})
    return page.redirect("/")


# A refused attempt is answered after this pause (a sleeping coroutine costs nothing), so a
# guesser that waits for each answer sends about one a second instead of hundreds.
REFUSAL_PAUSE_S = 1.0


async def _too_many(page: Page, username: str, wait: float) -> Response:
    await asyncio.sleep(min(wait, REFUSAL_PAUSE_S))
    response = page.render("login.html", status=429, error=True, error_key="login_throttled", username=username,
                           sample_warning=_sample_warning(page))
    response.headers["retry-after"] = str(max(1, math.ceil(wait)))
    return response


@router.post("/logout")
async def logout(page: PageDep) -> Response:
    await page.form()
    if page.reviewer is not None:
        await page.web.store.add_event(None, page.reviewer.username, "logout", {})
    await page.start_session(None)
    return page.redirect("/login")


# ---------------------------------------------------------------------- queue


def queue_filter(page: Page) -> tuple[ItemFilter, dict[str, str]]:
    """The queue's filters from the query string, and the chosen values to show back."""
    q = page.request.query_params
    chosen = {k: q.get(k, "") for k in ("status", "kind", "policy", "model", "tenant", "sort")}
    status = chosen["status"] or "open"
    statuses = None if status == "all" else (["pending", "claimed"] if status == "open" else [status])
    if statuses and not set(statuses) <= set(STATUSES):
        statuses = ["pending", "claimed"]
    chosen["status"] = status
    kind = chosen["kind"] if chosen["kind"] in KINDS else None
    filters = ItemFilter(
        statuses=statuses,
        kinds=[kind] if kind else None,
        policy=chosen["policy"] or None,
        model=chosen["model"] or None,
        tenant=chosen["tenant"] or None,
        tenants=page.scope,
    )
    return filters, chosen


def _sort(chosen: dict[str, str]) -> Any:
    return chosen["sort"] if chosen["sort"] in ("risk", "age", "deadline") else "risk"


@router.get("/", name="queue")
async def queue(page: PageDep) -> Response:
    page.require_reviewer()
    filters, chosen = queue_filter(page)
    number = _page_number(page)
    store = page.web.store
    items = await store.list_items(filters, sort=_sort(chosen), limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE)
    return page.render(
        "queue.html",
        items=items[:PAGE_SIZE],
        rows=group_rows(items[:PAGE_SIZE]),
        more=len(items) > PAGE_SIZE,
        page_number=number,
        counts=await store.counts(filters),
        facets=await store.facets(page.scope),
        chosen=chosen,
        statuses=STATUS_CHOICES,
        kinds=KINDS,
        query=_query(page),
        notice=_notice(page),
        now=time.time(),
    )


@router.get("/counts.json", name="counts")
async def counts(page: PageDep) -> Response:
    page.require_reviewer()
    filters, _ = queue_filter(page)
    return JSONResponse({"counts": await page.web.store.counts(filters)}, headers={"cache-control": "no-store"})


# ---------------------------------------------------------------------- audit and stats


@router.get("/audit", name="audit")
async def audit(page: PageDep) -> Response:
    reviewer = page.require_reviewer()
    number = _page_number(page)
    actor = page.request.query_params.get("actor") or None
    events = await page.web.store.audit_log(
        actor=actor, tenants=page.scope, items_only=reviewer.role != "admin",
        limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE,
    )
    return page.render("audit.html", events=events[:PAGE_SIZE], more=len(events) > PAGE_SIZE,
                       page_number=number, actor=actor or "")


@router.get("/stats", name="stats")
async def stats(page: PageDep) -> Response:
    page.require_reviewer()
    days = STATS_DAYS
    data = await page.web.store.stats(tenants=page.scope, days=days)
    peak = max([d.count for d in data.decisions_per_day] + [1])
    return page.render("stats.html", stats=data, peak=peak, days=days)


def _notice(page: Page) -> str | None:
    msg = page.request.query_params.get("msg")
    return msg if msg in NOTICES else None


def _query(page: Page) -> str:
    """The queue's filters as a query string, to carry from page to page (not paging, notices, language)."""
    keep = [(k, v) for k, v in page.request.query_params.multi_items() if k not in ("page", "msg", "lang")]
    return urlencode(keep)


MAX_PAGE = 100_000  # 5 million rows in; the offset stays a small integer on every database


def _page_number(page: Page) -> int:
    """``?page=`` as 1..MAX_PAGE: a huge number once overflowed the database's integer (a 500)."""
    return min(MAX_PAGE, max(1, _int(page.request.query_params.get("page"), 1)))


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default

