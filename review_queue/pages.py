"""The reviewer pages: log-in, queue, audit log, stats (one item and its decision: decisions.py).

Every state change is a POST carrying the session's CSRF token, is limited to the reviewer's
tenants, and is recorded in the store's audit trail.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends
from starlette.responses import JSONResponse, Response

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


@router.get("/login", name="login")
async def login_form(page: PageDep) -> Response:
    return page.render("login.html")


@router.post("/login")
async def login(page: PageDep) -> Response:
    form = await page.form()
    username = str(form.get("username", ""))[:100]
    reviewer = page.web.accounts.authenticate(username, str(form.get("password", "")))
    if reviewer is None:
        await page.web.store.add_event(None, username or "?", "login_failed", {})
        return page.render("login.html", status=401, error=True, username=username)
    page.start_session(reviewer.username)
    await page.web.store.add_event(None, reviewer.username, "login", {})
    return page.redirect("/")


@router.post("/logout")
async def logout(page: PageDep) -> Response:
    await page.form()
    if page.reviewer is not None:
        await page.web.store.add_event(None, page.reviewer.username, "logout", {})
    page.start_session(None)
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
    number = max(1, _int(page.request.query_params.get("page"), 1))
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
    number = max(1, _int(page.request.query_params.get("page"), 1))
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


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default

