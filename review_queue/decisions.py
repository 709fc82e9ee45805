"""One item: show it, claim or give it back, and decide it (with its group) in one form.

The decision form has one answer box and two outcomes, approve or reject. Approving a changed
answer is an edit (status ``edited``, the edited text is what the caller and the knowledge base
get); it is shown as a diff first, and so is adding to the knowledge base an answer that still
contains the claims the checks flagged. The confirmation is tied to exactly what was shown (a
digest of the text, the knowledge-base box and the group), so changing anything asks again.
After a decision the next open item of the reviewer's current filter opens.
"""

from __future__ import annotations

import hashlib
import inspect
import time
from dataclasses import dataclass, field
import structlog
from fastapi import APIRouter
from starlette.responses import Response

from guard.errors import InvalidRequest
from guard.review.errors import LeaseNotHeld
from guard.review.models import Item, ItemFilter
from guard.settings import Reviewer
from review_queue.documents import document_views
from review_queue import render
from review_queue.auth import may_see
from review_queue.explain import Piece, changed, diff, still_unsupported
from review_queue.groups import siblings
from review_queue.pages import PageDep, _notice, _query, _sort, queue_filter
from review_queue.web import Page, PageNotFound

log = structlog.get_logger()
router = APIRouter()


@dataclass
class Posted:
    """What the reviewer sent, shown back in the form when a confirmation is needed."""

    final: str
    knowledge: bool
    members: list[str] = field(default_factory=list)
    reason: str = ""


@dataclass
class Confirm:
    token: str
    edited: bool
    diff: list[Piece]
    unsupported: list[str]  # flagged claims still in the answer going to the knowledge base


async def _visible_item(page: Page, item_id: str) -> tuple[Reviewer, Item]:
    reviewer = page.require_reviewer()
    item = await page.web.store.get(item_id)
    if item is None or not may_see(reviewer, item.tenant):
        raise PageNotFound()
    return reviewer, item


async def _neighbours(page: Page) -> list[Item]:
    filters, chosen = queue_filter(page)
    return await page.web.store.list_items(filters, sort=_sort(chosen), limit=500)


async def _siblings(page: Page, item: Item) -> tuple[list[Item], list[Item]]:
    if item.status not in ("pending", "claimed"):
        return [], []
    candidates = await page.web.store.list_items(
        ItemFilter(statuses=["pending"], policy=item.policy, tenants=page.scope), sort="age", limit=500
    )
    return siblings(item, candidates)


@router.get("/items/{item_id}", name="item")
async def item_page(item_id: str, page: PageDep) -> Response:
    reviewer, item = await _visible_item(page, item_id)
    return await _render_item(page, reviewer, item)


async def _render_item(
    page: Page, reviewer: Reviewer, item: Item, confirm: Confirm | None = None, posted: Posted | None = None
) -> Response:
    ids = [i.id for i in await _neighbours(page)]
    at = ids.index(item.id) if item.id in ids else -1
    now = time.time()
    same, near = await _siblings(page, item)
    mine = item.status == "claimed" and item.reviewer == reviewer.username and (item.lease_until or 0) >= now
    claimable = item.status == "pending" or (item.status == "claimed" and (item.lease_until or 0) < now)
    sentences = render.sentences(item.annotation, page.lang)
    feedback = item.request.get("guard_feedback")
    return page.render(
        "item.html",
        item=item,
        segments=render.segments(item.answer, item.annotation, page.lang),
        sentences=sentences,
        flagged=[s for s in sentences if s.unsupported],
        documents=document_views(item.documents, item.annotation),
        feedback=feedback if isinstance(feedback, dict) else None,
        events=await page.web.store.events(item.id),
        mine=mine,
        claimable=claimable,
        decidable=mine or claimable,
        same=same,
        near=near,
        confirm=confirm,
        posted=posted or Posted(final=item.answer, knowledge=False, members=[i.id for i in same]),
        prev_id=ids[at - 1] if at > 0 else None,
        next_id=ids[at + 1] if 0 <= at < len(ids) - 1 else None,
        query=_query(page),
        notice=_notice(page),
        now=now,
        knowledge=page.web.sink is not None,
    )


@router.post("/items/{item_id}/claim")
async def claim(item_id: str, page: PageDep) -> Response:
    await page.form()
    reviewer, item = await _visible_item(page, item_id)
    won = await page.web.store.claim(item.id, reviewer.username, page.web.config.lease_s)
    return page.redirect(f"/items/{item.id}?{_with(page, msg='claimed' if won else 'lost')}")


@router.post("/items/{item_id}/release")
async def release(item_id: str, page: PageDep) -> Response:
    await page.form()
    reviewer, item = await _visible_item(page, item_id)
    force = reviewer.role == "admin" and item.reviewer != reviewer.username
    await page.web.store.release_claim(item.id, reviewer.username, force=force)
    return page.redirect(f"/items/{item.id}?{_with(page, msg='released')}")


def _token(final: str, knowledge: bool, members: list[str]) -> str:
    """What a confirmation was given for: this exact text, knowledge-base choice and group."""
    raw = "\x00".join([final, "kb" if knowledge else "", *sorted(members)])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


@router.post("/items/{item_id}/decide")
async def decide(item_id: str, page: PageDep) -> Response:
    form = await page.form()
    reviewer, item = await _visible_item(page, item_id)
    action = str(form.get("action", ""))
    final = str(form.get("final_answer", item.answer)).replace("\r\n", "\n")
    posted = Posted(
        final=final,
        knowledge=bool(form.get("add_to_knowledge")) and page.web.sink is not None,
        members=[str(m) for m in form.getlist("member")],
        reason=str(form.get("reason", "")).strip(),
    )
    # a correction is the item's tenant's own unless an admin chooses every tenant (global)
    scope = str(form.get("knowledge_scope", "tenant"))
    if posted.knowledge and (scope not in ("tenant", "global") or (scope == "global" and reviewer.role != "admin")):
        return page.redirect(f"/items/{item.id}?{_with(page, msg='invalid')}")
    same, near = await _siblings(page, item)
    allowed = {i.id: i for i in same + near}
    members = [allowed[m] for m in dict.fromkeys(posted.members) if m in allowed]
    edit = False
    if action in ("approve", "edit"):  # "edit" is the old second button: the same decision
        edit = changed(item.answer, final)
        unsupported = still_unsupported(item.annotation.get("sentences") or [], final) if posted.knowledge else []
        token = _token(final, posted.knowledge, [m.id for m in members])
        if (edit or unsupported) and str(form.get("confirm", "")) != token:
            confirm = Confirm(token, edit, diff(item.answer, final) if edit else [], unsupported)
            return await _render_item(page, reviewer, item, confirm=confirm, posted=posted)
    elif action == "reject":
        if not posted.reason:
            return page.redirect(f"/items/{item.id}?{_with(page, msg='invalid')}")
    else:
        return page.redirect(f"/items/{item.id}?{_with(page, msg='invalid')}")
    order = await _neighbours(page)
    outcome = "reject" if action == "reject" else ("edit" if edit else "approve")
    decided = await _decide_all(page, reviewer, item, members, outcome, final, posted.reason)
    if not decided:
        return page.redirect(f"/items/{item.id}?{_with(page, msg='lost')}")
    if posted.knowledge and not await _add_to_knowledge(page, reviewer, decided, scope):
        return page.redirect(f"/items/{item.id}?{_with(page, msg='knowledge_failed')}")
    following = _next_open(order, item.id, {d.id for d in decided}, reviewer.username)
    msg = "decided_group" if len(decided) > 1 else "decided"
    if following is None:
        return page.redirect(f"/?{_with(page, msg=msg)}")
    return page.redirect(f"/items/{following}?{_with(page, msg=msg)}")


async def _decide_all(
    page: Page, reviewer: Reviewer, leader: Item, members: list[Item], action: str, final: str, reason: str
) -> list[Item]:
    """Decide the item, then each confirmed member; every one gets its own audit event.

    An item not claimed by this reviewer is claimed first (atomically, so two reviewers never
    both decide it); a member someone else took meanwhile is skipped. Returns the decided
    items, the leader first, or [] when the leader itself could not be decided.
    """
    store, who = page.web.store, reviewer.username
    decided: list[Item] = []
    group = {"group": leader.id} if members else {}
    for n, item in enumerate([leader, *members]):
        mine = item.status == "claimed" and item.reviewer == who
        if not mine and not await store.claim(item.id, who, page.web.config.lease_s):
            if n == 0:
                return []
            continue
        detail = {**group, "members": len(members)} if n == 0 and members else group
        try:
            done = await store.decide(
                item.id, who, action,  # type: ignore[arg-type]
                final_answer=final if action == "edit" else None,
                reason=reason or None, detail=detail,
            )
        except (LeaseNotHeld, InvalidRequest):
            if n == 0:
                return []
            continue
        if page.web.sender is not None:
            page.web.sender.schedule(store, done)
        decided.append(done)
    return decided


def _next_open(order: list[Item], current: str, decided: set[str], me: str) -> str | None:
    """The item after ``current`` in the queue's order that is still to decide (then wrapping round)."""
    ids = [i.id for i in order]
    at = ids.index(current) if current in ids else -1
    rotated = order[at + 1:] + order[: max(at, 0)]
    for item in rotated:
        if item.id in decided:
            continue
        if item.status == "pending" or (item.status == "claimed" and item.reviewer == me):
            return item.id
    return None


async def _add_to_knowledge(page: Page, reviewer: Reviewer, decided: list[Item], scope: str = "tenant") -> bool:
    """Each distinct (tenant, final answer) once: a group of identical items is one correction."""
    sink = page.web.sink
    if sink is None:
        return False
    seen: set[tuple[str, str]] = set()
    for item in decided:
        if item.status not in ("approved", "edited") or not item.final_answer:
            continue
        if (item.tenant, item.final_answer) in seen:
            continue
        seen.add((item.tenant, item.final_answer))
        try:
            result = sink(item.final_answer, dict(item.provenance(reviewer.username), scope=scope))
            if inspect.isawaitable(result):
                await result
        except Exception as e:
            log.exception("review.knowledge_sink_failed", item_id=item.id)
            await page.web.store.add_event(item.id, reviewer.username, "knowledge_failed", {"error": repr(e)[:500]})
            return False
        await page.web.store.add_event(item.id, reviewer.username, "knowledge_added", {"scope": scope, "tenant": item.tenant})
    return True


def _with(page: Page, **extra: str) -> str:
    """The current filters' query string plus ``extra`` (a notice)."""
    query = _query(page)
    add = "&".join(f"{k}={v}" for k, v in extra.items())
    return f"{query}&{add}" if query else add
