"""``/corrections``: the admin view of reviewed corrections, with a retract button.

Admins only: a correction may be global, and retracting one changes verdicts for its tenant
(or all tenants). A retraction is a ``knowledge_retracted`` event in the store's audit trail;
every replica's ``CorrectionSync`` drops the correction on its next sync.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from guard.corrections import list_corrections, retract
from guard.settings import Reviewer
from review_queue.web import Page, PageNotFound, get_page

router = APIRouter()
PageDep = Annotated[Page, Depends(get_page)]


def _admin(page: Page) -> Reviewer:
    reviewer = page.require_reviewer()
    if reviewer.role != "admin":
        raise PageNotFound()
    return reviewer


@router.get("/corrections", name="corrections")
async def corrections_page(page: PageDep) -> Response:
    _admin(page)
    show_all = page.request.query_params.get("all") == "1"
    found = await list_corrections(page.web.store)
    shown = [c for c in reversed(found) if show_all or c.status == "active"]
    notice = "retracted" if page.request.query_params.get("msg") == "retracted" else None
    return page.render("corrections.html", corrections=shown, show_all=show_all, notice=notice,
                       clock=lambda t: time.strftime("%Y-%m-%d %H:%M", time.gmtime(t)) if t else "—")


@router.post("/corrections/{item_id}/retract")
async def retract_correction(item_id: str, page: PageDep) -> Response:
    form = await page.form()
    reviewer = _admin(page)
    reason = str(form.get("reason", "")).strip()[:2000] or None
    try:
        await retract(page.web.store, item_id, reviewer.username, reason)
    except LookupError:
        raise PageNotFound() from None
    return page.redirect("/corrections?msg=retracted")
