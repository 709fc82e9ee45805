"""Labelled rows from the review store's decisions: the feedback loop of ``guard calibrate``.

A reviewer who approves a held answer says it was grounded (label 0); one who edits or rejects
it says it was not (label 1). Expired items carry no verdict and are left out. The row's
context is the evidence the check cited for the answer (the spans stored in the item's
annotation), so the answer is regraded against what the reviewer saw; with ``--index`` the
caller regrades it against the knowledge index instead.
"""

from __future__ import annotations

import asyncio
from typing import Any

from guard.checks.evaluate import EvalRow

LABELS = {"approved": 0, "edited": 1, "rejected": 1}
_PAGE = 500


def item_row(item: Any) -> EvalRow | None:
    """One decided item as an eval row; None when it has no verdict or nothing to grade."""
    label = LABELS.get(item.status)
    if label is None or not item.answer.strip():
        return None
    spans: list[str] = []
    for sentence in (item.annotation or {}).get("sentences", []) or []:
        for ev in sentence.get("evidence", []) or []:
            span = str(ev.get("span") or "").strip()
            if span and span not in spans:
                spans.append(span)
    return EvalRow(id=item.id, context="\n\n".join(spans), question=item.question, answer=item.answer, label=label)


async def _decided(store: Any, tenant: str | None) -> list[Any]:
    from guard.review.models import ItemFilter

    filters = ItemFilter(statuses=list(LABELS), tenant=tenant)
    items: list[Any] = []
    while True:
        page = await store.list_items(filters, sort="age", limit=_PAGE, offset=len(items))
        items += page
        if len(page) < _PAGE:
            return items


def rows_from_store(url: str, tenant: str | None = None) -> list[EvalRow]:
    """Every decided item of the store at ``url`` (optionally one tenant's) as a labelled row."""
    from guard.review.store import open_store

    store = open_store(url)
    try:
        items = asyncio.run(_decided(store, tenant))
    finally:
        store.close()
    return [r for r in (item_row(i) for i in items) if r is not None]
